"""Abuse (issue 7, part 6): forms posted without their CSRF token or with another session's are
refused and change nothing; extra form fields cannot set what the server decides; `next=` never
leads to another site; and another user's pledges and drafts cannot be told apart from ids and slugs
that do not exist."""
import re
import sys
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner

from crowdfund import money
from crowdfund.accounts.models import User
from crowdfund.campaigns.models import BudgetLine, Campaign, Milestone
from crowdfund.comments.models import Comment
from crowdfund.extensions import db
from crowdfund.payments import ledger
from crowdfund.pledges.models import Pledge

sys.path.insert(0, str(Path(__file__).resolve().parent / "payments"))
from collected_pledges import collected_pledge  # noqa: E402  (tests/payments)

PASSWORD = "correct horse battery"
FORM_EXPIRED = "The form expired or was sent from another site. Please reload the page and try again."


def _token(response) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _fresh(model, row_id):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, row_id)


def _count(model, *conditions) -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count(model.id)).where(*conditions)).scalar_one()


# --- CSRF: a missing or foreign token is refused and changes nothing -----------------------------------

@pytest.fixture
def browser(csrf_app):
    """browser(user=None) -> a client with a session of its own, logged in as user through the
    login form (with its token) when one is given."""

    def open_browser(user=None):
        client = csrf_app.test_client()
        page = client.get("/login")
        if user is not None:
            response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                                   "csrf_token": _token(page)})
            assert response.status_code == 302
        return client

    return open_browser


def _basics(campaign, **changes):
    """The basics form of a campaign as its edit page fills it in, with changes."""
    return {"title": campaign.title, "blurb": campaign.blurb, "category_id": str(campaign.category_id),
            "funding_model": campaign.funding_model, "currency": campaign.currency,
            "goal": money.amount_input(campaign.goal, campaign.currency), "duration_days": str(campaign.duration_days),
            "story": campaign.story, "risks": campaign.risks, **changes}


def _log_in_case(make_user, make_campaign, make_pledge):
    user = make_user()
    return {"user": None, "page": "/login", "url": "/login", "data": {"email": user.email, "password": PASSWORD},
            "changed": lambda client: client.get("/me/settings").status_code == 200}


def _sign_up_case(make_user, make_campaign, make_pledge):
    return {"user": None, "page": "/signup", "url": "/signup",
            "data": {"email": "mallory@example.com", "display_name": "Mallory", "password": PASSWORD},
            "changed": lambda client: _count(User, User.email == "mallory@example.com") == 1}


def _comment_case(make_user, make_campaign, make_pledge):
    campaign = make_campaign(state="live")
    backer = make_user()
    make_pledge(campaign, backer=backer)
    return {"user": backer, "page": f"/c/{campaign.slug}", "url": f"/c/{campaign.slug}/comments",
            "data": {"body": "Posted by a forged form"}, "changed": lambda client: _count(Comment) == 1}


def _campaign_edit_case(make_user, make_campaign, make_pledge):
    founder = make_user()
    draft = make_campaign(founder=founder, state="draft")
    return {"user": founder, "page": f"/c/{draft.slug}/edit", "url": f"/c/{draft.slug}/edit",
            "data": _basics(draft, title="Renamed by a forged form"),
            "changed": lambda client: _fresh(Campaign, draft.id).title == "Renamed by a forged form"}


def _moderation_decision_case(make_user, make_campaign, make_pledge):
    campaign = make_campaign(state="in_review")
    moderator = make_user(role="moderator")
    return {"user": moderator, "page": f"/moderation/campaigns/{campaign.id}",
            "url": f"/moderation/campaigns/{campaign.id}", "data": {"decision": "approve", "reason": "Looks fine"},
            "changed": lambda client: _fresh(Campaign, campaign.id).state != "in_review"}


CSRF_CASES = {"log-in": _log_in_case, "sign-up": _sign_up_case, "comment": _comment_case,
              "campaign-edit": _campaign_edit_case, "moderation-decision": _moderation_decision_case}


def _assert_refused_with_the_form_expired_page(response):
    assert response.status_code == 400
    assert FORM_EXPIRED in response.get_data(as_text=True)


@pytest.mark.parametrize("case", CSRF_CASES)
def test_a_missing_or_foreign_csrf_token_is_refused_and_changes_nothing(browser, make_user, make_campaign,
                                                                       make_pledge, case):
    built = CSRF_CASES[case](make_user, make_campaign, make_pledge)
    client = browser(built["user"])
    own = _token(client.get(built["page"]))
    foreign = _token(browser().get("/login"))  # what an attacker's page would post: its own session's token

    missing_response = client.post(built["url"], data=built["data"])
    foreign_response = client.post(built["url"], data={**built["data"], "csrf_token": foreign})

    for response in (missing_response, foreign_response):
        _assert_refused_with_the_form_expired_page(response)
    assert not built["changed"](client)
    genuine = client.post(built["url"], data={**built["data"], "csrf_token": own})
    assert genuine.status_code in (302, 303)  # the same form with its own token works
    assert built["changed"](client)


def test_pledging_without_the_csrf_token_is_refused_and_changes_nothing(browser, stripe_standin, make_user,
                                                                        make_campaign):
    campaign = make_campaign(state="live")
    client = browser(make_user())
    own = _token(client.get(f"/c/{campaign.slug}/pledge"))
    foreign = _token(browser().get("/login"))
    form = {"reward": "none", "amount": "25"}

    for response in (client.post(f"/c/{campaign.slug}/pledge", data=form),
                     client.post(f"/c/{campaign.slug}/pledge", data={**form, "csrf_token": foreign})):
        _assert_refused_with_the_form_expired_page(response)
    assert _count(Pledge) == 0
    assert client.post(f"/c/{campaign.slug}/pledge", data={**form, "csrf_token": own}).status_code == 302
    assert _count(Pledge) == 1


def test_refunding_without_the_csrf_token_is_refused_and_changes_nothing(browser, stripe_standin, make_user,
                                                                         make_campaign, make_pledge):
    pledge = collected_pledge(make_pledge, make_campaign(state="live", funding_model="flexible"), amount=5000)
    client = browser(make_user(role="moderator"))
    url = f"/moderation/pledges/{pledge.id}/refund"
    own = _token(client.get(url))
    foreign = _token(browser().get("/login"))
    form = {"amount": "10", "reason": "The backer asked"}

    for response in (client.post(url, data=form), client.post(url, data={**form, "csrf_token": foreign})):
        _assert_refused_with_the_form_expired_page(response)
    assert ledger.pledge_balance(pledge.id) == (5000, 0)
    assert client.post(url, data={**form, "csrf_token": own}).status_code == 303
    assert ledger.pledge_balance(pledge.id) == (5000, 1000)


# --- Extra form fields are ignored ------------------------------------------------------------------------

def _extra_fields(other_user_id, other_campaign_id=None):
    """Names an attacker would try, with values that would matter if any were read."""
    return {"user_id": str(other_user_id), "id": str(other_user_id), "role": "admin", "status": "live",
            "state": "collected", "amount_collected": "99999999", "founder_id": str(other_user_id),
            "backer_id": str(other_user_id), "email_verified": "1", "email_verified_at": "2020-01-01",
            "login_id": "chosen-by-the-attacker", "featured": "1", "campaign_id": str(other_campaign_id or 0)}


def test_sign_up_ignores_extra_fields(client, make_user):
    other = make_user(role="admin")

    response = client.post("/signup", data={"email": "new@example.com", "display_name": "New Backer",
                                            "password": PASSWORD, **_extra_fields(other.id)})

    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.execute(db.select(User).where(User.email == "new@example.com")).scalar_one()
    assert (user.role, user.email_verified, user.login_id == "chosen-by-the-attacker") == ("backer", False, False)
    assert user.id != other.id
    assert _fresh(User, other.id).email != "new@example.com"


def test_the_profile_form_ignores_extra_fields(client, make_user):
    user, other = make_user(verified=False), make_user(display_name="Other Person")
    client.post("/login", data={"email": user.email, "password": PASSWORD})

    response = client.post("/me/settings", data={"display_name": "Renamed", "email": "taken@evil.test",
                                                 **_extra_fields(other.id)})

    assert response.status_code == 302
    me, them = _fresh(User, user.id), _fresh(User, other.id)
    assert me.display_name == "Renamed"  # what the form is for
    assert (me.role, me.email, me.email_verified) == ("backer", user.email, False)
    assert them.display_name == "Other Person"


def test_the_campaign_form_ignores_extra_fields(client, make_user, make_campaign):
    founder, other = make_user(), make_user()
    draft = make_campaign(founder=founder, state="draft")
    slug = draft.slug
    client.post("/login", data={"email": founder.email, "password": PASSWORD})

    response = client.post(f"/c/{slug}/edit", data={**_basics(draft, title="Renamed"), "slug": "hijacked",
                                                    **_extra_fields(other.id)})

    assert response.status_code == 302
    campaign = _fresh(Campaign, draft.id)
    assert campaign.title == "Renamed"
    assert (campaign.state, campaign.founder_id, campaign.featured, campaign.slug) == ("draft", founder.id, False, slug)
    assert campaign.launched_at is None


def test_the_pledge_form_ignores_extra_fields(client, stripe_standin, make_user, make_campaign):
    campaign, elsewhere = make_campaign(state="live"), make_campaign(state="live")
    backer, other = make_user(), make_user()
    client.post("/login", data={"email": backer.email, "password": PASSWORD})

    response = client.post(f"/c/{campaign.slug}/pledge", data={"reward": "none", "amount": "25",
                                                               "shipping_amount": "0",
                                                               **_extra_fields(other.id, elsewhere.id)})

    assert response.status_code == 302
    db.session.rollback()
    [pledge] = db.session.execute(db.select(Pledge)).scalars()
    assert (pledge.backer_id, pledge.campaign_id, pledge.amount, pledge.state) == (
        backer.id, campaign.id, 2500, "pending")
    assert ledger.pledge_balance(pledge.id) == (0, 0)


# --- next= never leads to another site --------------------------------------------------------------------

OTHER_SITES = ["https://evil.test", "//evil.test", "/\\evil.test", "/\t/evil.test", "http:evil.test",
               "\\\\evil.test", "///evil.test", "/\n/evil.test", " //evil.test", "javascript:alert(1)"]


@pytest.mark.parametrize("target", OTHER_SITES, ids=repr)
def test_log_in_never_redirects_to_another_site(client, make_user, target):
    user = make_user()

    response = client.post("/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", OTHER_SITES, ids=repr)
def test_sign_up_never_redirects_to_another_site(client, target):
    response = client.post("/signup", query_string={"next": target},
                           data={"email": "new@example.com", "display_name": "New Backer", "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_on_this_site_is_followed_after_log_in_and_sign_up(app, make_user):
    user = make_user()

    logged_in = app.test_client().post("/login?next=/me/pledges", data={"email": user.email, "password": PASSWORD})
    signed_up = app.test_client().post("/signup?next=/me/pledges", data={
        "email": "new@example.com", "display_name": "New Backer", "password": PASSWORD})

    assert logged_in.headers["Location"] == signed_up.headers["Location"] == "/me/pledges"


# --- Enumerating ids and slugs reveals nothing ------------------------------------------------------------

@pytest.fixture
def same_tokens(monkeypatch):
    """Signed values (the CSRF token in every page's log-out form) carry one fixed timestamp, so two
    pages differ only where their content does."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)


def _routes_taking(app, arguments: set[str], required: str):
    """(rule, method) for every route whose arguments are among these and include `required`."""
    for rule in app.url_map.iter_rules():
        if required in rule.arguments and rule.arguments <= arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _answer(client, app, rule, method, values):
    with app.test_request_context():
        from flask import url_for

        url = url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})
    response = client.open(url, method=method)
    return response.status_code, response.headers.get("Location"), response.get_data(as_text=True)


def test_another_users_pledge_answers_exactly_as_a_pledge_that_does_not_exist(app, login, same_tokens, make_user,
                                                                            make_campaign, make_pledge):
    owner, stranger = make_user(), make_user()
    pledge = make_pledge(make_campaign(state="live"), backer=owner, state="active")
    missing = pledge.id + 1000
    client = login(stranger)
    client.get("/")  # shows the "Welcome back" message, which would otherwise be on the first page compared
    assert login(owner).get(f"/pledges/{pledge.id}").status_code == 200

    checked = []
    for rule, method in _routes_taking(app, {"pledge_id"}, "pledge_id"):
        existing = _answer(client, app, rule, method, {"pledge_id": pledge.id})
        absent = _answer(client, app, rule, method, {"pledge_id": missing})
        assert existing == absent, f"{method} {rule.rule}"
        assert existing[0] == (403 if rule.rule.startswith("/moderation/") else 404), f"{method} {rule.rule}"
        checked.append(f"{method} {rule.rule}")

    assert {"GET /pledges/<int:pledge_id>", "POST /pledges/<int:pledge_id>/edit",
            "POST /pledges/<int:pledge_id>/cancel", "GET /pledges/<int:pledge_id>/fix"} <= set(checked)
    assert _fresh(Pledge, pledge.id).state == "active"


SLUG_ROUTE_ARGUMENTS = {"slug", "kind", "item_id", "milestone_id", "update_id"}


def test_another_founders_draft_answers_exactly_as_a_slug_that_does_not_exist(app, login, same_tokens, make_user,
                                                                             make_campaign):
    founder, stranger = make_user(), make_user()
    draft = make_campaign(founder=founder, state="draft")
    line = db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == draft.id)).scalars().first()
    milestone = db.session.execute(db.select(Milestone).where(Milestone.campaign_id == draft.id)).scalars().first()
    values = {"kind": "budget", "item_id": line.id, "milestone_id": milestone.id, "update_id": 1}
    client = login(stranger)
    client.get("/")  # shows the "Welcome back" message, which would otherwise be on the first page compared
    owner = login(founder)
    for page in (f"/c/{draft.slug}", f"/c/{draft.slug}/edit", f"/c/{draft.slug}/edit/media"):
        assert owner.get(page).status_code == 200, page  # the draft, its preview and its media page exist

    checked = []
    for rule, method in _routes_taking(app, SLUG_ROUTE_ARGUMENTS, "slug"):
        existing = _answer(client, app, rule, method, {**values, "slug": draft.slug})
        absent = _answer(client, app, rule, method, {**values, "slug": "no-such-campaign-anywhere"})
        assert existing == absent, f"{method} {rule.rule}"
        assert existing[0] == 404, f"{method} {rule.rule}"
        checked.append(f"{method} {rule.rule}")

    assert {"GET /c/<slug>", "GET /c/<slug>/edit", "POST /c/<slug>/edit", "GET /c/<slug>/edit/media",
            "POST /c/<slug>/preview", "GET /c/<slug>/widget"} <= set(checked)
    campaign = _fresh(Campaign, draft.id)
    assert (campaign.state, campaign.title) == ("draft", draft.title)


def test_a_visitor_cannot_tell_a_draft_from_a_slug_that_does_not_exist(client, same_tokens, make_campaign):
    draft = make_campaign(state="draft")

    for path in ("/c/{}", "/c/{}/widget", "/c/{}/updates", "/c/{}/updates.atom"):
        existing = client.get(path.format(draft.slug))
        absent = client.get(path.format("no-such-campaign-anywhere"))
        assert (existing.status_code, existing.get_data()) == (absent.status_code, absent.get_data()), path
        assert existing.status_code == 404, path
