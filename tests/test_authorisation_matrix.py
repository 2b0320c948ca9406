"""The authorisation matrix (issue 7, deliverable 5).

Every rule in app.url_map (except `static`) is requested by each kind of user — a visitor
(anonymous), a backer (an active pledge on the campaign), another founder (a founder of a
different campaign), the owner (founder of the campaign) and a moderator — with GET, or for
POST-only rules with POST and an empty body, and the outcome is compared with MATRIX below.

A rule whose endpoint is missing from MATRIX fails the test: a new route must say who may use it.

Outcomes: 200, "login" (302/303 to the log-in page), "redirect" (302/303 elsewhere), 400, 403,
404, 405, 409, 422. One test per user kind: one app and one set of fixtures, many requests.
Set AUTHZ_RECORD=1 to print what every request got (a help for writing a new entry).
"""
import os
from urllib.parse import urlsplit

import pytest

from route_world import USERS, all_rules as _rules, rule_url as _url, world  # noqa: F401 (world: a fixture)

LOGIN = "login"
REDIRECT = "redirect"


def row(visitor, backer, other_founder, owner, moderator):
    return dict(zip(USERS, (visitor, backer, other_founder, owner, moderator)))


def same(outcome):
    return row(*(outcome,) * len(USERS))


# The shapes most routes have.
PUBLIC = same(200)
SIGNED_IN = row(LOGIN, 200, 200, 200, 200)

# Endpoint → expected outcome per user kind. For rules taking a campaign (slug / campaign_id) the
# campaign is live, owned by `owner` and backed by `backer` (an active pledge, which pledge_id
# names); `other_founder` owns another live campaign. A GET+POST rule is requested with GET;
# a POST-only rule with an empty POST. Entries in BUGS are the correct outcomes the app does not
# give yet: those user kinds xfail (strict) with the reason.
# Notes on the less obvious outcomes:
# - owner-only campaign pages answer 404 to everyone else, moderators included (they use /moderation);
# - editing a live campaign redirects the owner (a flash: no longer editable), deleting an item is a 403;
# - only backers and the owner may comment (empty body → 422), others get 403; the backer wrote the
#   comment, so reporting it is a 403 for them; the owner may not follow or back their own campaign;
# - a pledge belongs to its backer: 404 for everyone else; empty POSTs on an active pledge are 409;
# - token links (verify, reset, unsubscribe) are the backer's and work for whoever holds them.
MATRIX = {
    "discovery.home": PUBLIC,
    "campaigns.show": PUBLIC,
    "campaigns.cancel": row(LOGIN, 404, 404, 200, 404),
    "comments.post_on_campaign": row(LOGIN, 422, 403, 422, 403),
    "dashboard.show": row(LOGIN, 404, 404, 200, 404),
    "dashboard.backers_csv": row(LOGIN, 404, 404, 200, 404),
    "campaigns.edit": row(LOGIN, 404, 404, REDIRECT, 404),
    "campaigns.edit_items": row(LOGIN, 404, 404, REDIRECT, 404),
    "campaigns.delete_item": row(LOGIN, 404, 404, 403, 404),
    "media.edit": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.cover": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.remove_cover": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.add_gallery": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.gallery_alt": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.gallery_move": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.gallery_remove": row(LOGIN, 404, 404, REDIRECT, 404),
    "media.video": row(LOGIN, 404, 404, REDIRECT, 404),
    "notifications.follow": row(LOGIN, REDIRECT, REDIRECT, 403, REDIRECT),
    "campaigns.history": row(LOGIN, 404, 404, 200, 404),
    "campaigns.launch": row(LOGIN, 404, 404, 409, 404),
    "pledges.new": row(LOGIN, REDIRECT, 200, 403, 200),
    "media.preview": row(LOGIN, 404, 404, 200, 404),
    "payments.settlement": row(LOGIN, 404, 404, 200, 404),
    "campaigns.submit": row(LOGIN, 404, 404, REDIRECT, 404),
    "notifications.unfollow": row(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "updates.index": PUBLIC,
    "updates.feed": PUBLIC,
    "updates.show": PUBLIC,
    "comments.post_on_update": row(LOGIN, 422, 403, 422, 403),
    "updates.new": row(LOGIN, 404, 404, 200, 404),
    "updates.request_update": row(LOGIN, 400, 403, 403, 403),
    "campaigns.widget": PUBLIC,
    "payouts.request_release": row(LOGIN, 404, 404, REDIRECT, 404),
    "payouts.campaign_releases": row(LOGIN, 404, 404, 200, 404),
    "campaigns.new": SIGNED_IN,
    "comments.report": row(LOGIN, 403, REDIRECT, REDIRECT, REDIRECT),
    "discovery.discover": PUBLIC,
    "discovery.healthz": PUBLIC,
    "accounts.login": row(200, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "accounts.logout": same(REDIRECT),
    "campaigns.mine": SIGNED_IN,
    "payout_accounts.show": SIGNED_IN,
    "payout_accounts.check": row(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "payout_accounts.connect": row(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "payout_accounts.refresh": row(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "payout_accounts.returned": row(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "pledges.mine": SIGNED_IN,
    "accounts.settings": SIGNED_IN,
    "accounts.resend_verification": row(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "media.file": PUBLIC,
    "moderation.queue": row(LOGIN, 403, 403, 403, 200),
    "moderation.audit_log": row(LOGIN, 403, 403, 403, 200),
    "moderation.review": row(LOGIN, 403, 403, 403, 200),
    "moderation.abandon": row(LOGIN, 403, 403, 403, REDIRECT),
    "moderation.feature": row(LOGIN, 403, 403, 403, 422),
    "moderation.refund_campaign": row(LOGIN, 403, 403, 403, 422),
    "moderation.suspend": row(LOGIN, 403, 403, 403, 422),
    "comments.moderation": row(LOGIN, 403, 403, 403, 200),
    "comments.dismiss": row(LOGIN, 403, 403, 403, REDIRECT),
    "comments.hide": row(LOGIN, 403, 403, 403, 422),
    "comments.unhide": row(LOGIN, 403, 403, 403, 409),
    "moderation.overdue": row(LOGIN, 403, 403, 403, 200),
    "moderation.refund_pledge": row(LOGIN, 403, 403, 403, 200),
    # crowdfund/credit: marking a tier shipped needs a funded campaign (the world's is live: 409 for
    # the owner); a receipt needs a collected pledge (the backer's is active: 409); the report form
    # is refused to the founder (403) and shows the other founder their open report (200).
    "credit.mark_shipped": row(LOGIN, 404, 404, 409, 404),
    "credit.mark_receipt": row(LOGIN, 409, 404, 404, 404),
    "credit.business_details": SIGNED_IN,
    "credit.check_business": row(LOGIN, 403, 403, 403, 422),
    "credit.report_campaign": row(LOGIN, 200, 200, 403, 200),
    "credit.report_queue": row(LOGIN, 403, 403, 403, 200),
    "credit.resolve_report": row(LOGIN, 403, 403, 403, 422),
    "payouts.queue": row(LOGIN, 403, 403, 403, 200),
    "payouts.decide": row(LOGIN, 403, 403, 403, 422),
    "payouts.retry": row(LOGIN, 403, 403, 403, REDIRECT),
    "risk.queue": row(LOGIN, 403, 403, 403, 200),
    "risk.detail": row(LOGIN, 403, 403, 403, 200),
    "risk.clear": row(LOGIN, 403, 403, 403, 422),
    "pledges.show": row(LOGIN, 200, 404, 404, 404),
    "pledges.cancel": row(LOGIN, 200, 404, 404, 404),
    "pledges.card": row(LOGIN, 200, 404, 404, 404),
    "pledges.new_card": row(LOGIN, REDIRECT, 404, 404, 404),
    "pledges.complete": row(LOGIN, 409, 404, 404, 404),
    "pledges.edit": row(LOGIN, 200, 404, 404, 404),
    "payments.fix": row(LOGIN, 200, 404, 404, 404),
    "payments.fix_account": row(LOGIN, 409, 404, 404, 404),
    "payments.fix_card": row(LOGIN, 409, 404, 404, 404),
    "payments.fix_confirmed": row(LOGIN, 409, 404, 404, 404),
    "accounts.request_reset": PUBLIC,
    "accounts.reset_password": PUBLIC,
    "discovery.search": PUBLIC,
    "accounts.signup": row(200, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    "payments.stripe_webhook": same(400),
    "accounts.profile": PUBLIC,
    "notifications.unsubscribe": PUBLIC,
    "notifications.unsubscribe_confirm": PUBLIC,
    "accounts.verify_email": PUBLIC,
    "accounts.confirm_email": same(REDIRECT),
}

BUGS = {
    # (endpoint, user kind): "reason",
}


# ---------------------------------------------------------------------------------------------

def _outcome(response):
    if response.status_code in (301, 302, 303, 307, 308):
        path = urlsplit(response.headers.get("Location", "")).path
        return LOGIN if path == "/login" else REDIRECT
    return response.status_code


@pytest.mark.parametrize("kind", USERS)
def test_authorisation_matrix(app, world, login, kind, request):
    record = os.environ.get("AUTHZ_RECORD") == "1"
    missing = sorted({r.endpoint for r in _rules(app)} - set(MATRIX))
    if missing and not record:
        pytest.fail("endpoints not in the authorisation matrix (add them to MATRIX in "
                    f"tests/test_authorisation_matrix.py): {', '.join(missing)}")
    user = world["users"].get(kind)
    client = login(user) if user else app.test_client()
    wrong, known = [], []
    for rule in _rules(app):
        url = _url(app, rule, world)
        # Log-out ends the session: it gets a client of its own, so the rest still run as `kind`.
        this_client = (login(user) if user else app.test_client()) if rule.endpoint == "accounts.logout" else client
        method = "GET" if "GET" in rule.methods else "POST"
        try:
            got = _outcome(this_client.open(url, method=method, data={} if method == "POST" else None))
        except Exception as error:  # the app propagates exceptions under TESTING: a 500
            got = f"500 ({type(error).__name__}: {error})"
        if record:
            print(f"RECORD {kind:14} {rule.endpoint:40} {method} {url} -> {got}")
            continue
        expected = MATRIX[rule.endpoint][kind]
        bug = BUGS.get((rule.endpoint, kind))
        line = f"{rule.endpoint} ({method} {url}) as {kind}: got {got}, expected {expected}"
        if got != expected:
            (known if bug else wrong).append(line + (f" [known bug: {bug}]" if bug else ""))
        elif bug:
            wrong.append(line + f" — listed in BUGS ({bug}) but now correct: remove it from BUGS")
    assert not wrong, "authorisation matrix mismatches:\n" + "\n".join(wrong)
    if known:
        pytest.xfail("known authorisation bugs:\n" + "\n".join(known))
