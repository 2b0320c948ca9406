"""/me/payouts: a founder connects a Stripe Connect Express account (the stand-in's), the status is
read back on return and on account.updated, and launching waits for it when REQUIRE_PAYOUT_ACCOUNT is on."""
import json
import re
import time
import urllib.parse

import pytest
import stripe

from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.payments.gateway import GatewayError
from crowdfund.payouts import accounts
from crowdfund.payouts.models import PayoutAccount

from .test_standin_connect import post_onboarding

SECRET = "whsec_test_secret"  # TestingConfig.STRIPE_WEBHOOK_SECRET
PASSWORD = "correct horse battery"  # tests/conftest.py
_ids = iter(range(1, 10**6))


def _row(user_id) -> PayoutAccount | None:
    db.session.expire_all()
    return accounts.payout_account_of(user_id)


def _connect(client):
    """POST the Connect button: (response, the account link it redirects to)."""
    response = client.post("/me/payouts/connect")
    return response, response.headers.get("Location")


def _onboard(client):
    """Connect, complete the stand-in's onboarding form, come back: the founder's account is ready."""
    _, link = _connect(client)
    status, return_url = post_onboarding(link)
    assert status == 303
    response = client.get(urllib.parse.urlsplit(return_url).path)
    assert response.status_code == 303
    return response


def _signed_post(client, event):
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
    return client.post("/stripe/webhook", data=payload,
                       headers={"Content-Type": "application/json", "Stripe-Signature": header})


def _account_event(account_id, event_id=None, **fields):
    return {"id": event_id or f"evt_payout_{next(_ids)}", "object": "event", "type": "account.updated",
            "created": int(time.time()), "data": {"object": {"id": account_id, "object": "account", **fields}}}


def test_the_page_needs_a_login(client):
    response = client.get("/me/payouts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/me/payouts/connect").status_code == 302
    assert client.get("/me/payouts/return").status_code == 302


def test_a_new_founder_is_not_connected(founder_client):
    page = founder_client.get("/me/payouts")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Status: not connected." in html and "Connect a payout account" in html
    assert 'href="/me/payouts"' in founder_client.get("/").get_data(as_text=True)  # in the menu


def test_the_page_lets_its_form_go_to_the_onboarding_origin(app, founder_client, stripe_standin):
    policy = founder_client.get("/me/payouts").headers["Content-Security-Policy"]

    assert f"form-action 'self' {stripe_standin.url}" in policy
    assert "script-src 'self'" in policy  # the rest of the policy is the usual one


def test_connect_creates_the_account_once_and_sends_the_founder_to_onboarding(
        app, founder, founder_client, stripe_standin):
    response, link = _connect(founder_client)

    assert response.status_code == 303
    row = _row(founder.id)
    assert row.stripe_account_id.startswith("acct_") and not row.can_receive_transfers
    assert link.startswith(f"{stripe_standin.url}/_standin/connect/onboard/{row.stripe_account_id}?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    public = app.config["PUBLIC_URL"].rstrip("/")
    assert query == {"return_url": [f"{public}/me/payouts/return"], "refresh_url": [f"{public}/me/payouts/refresh"]}
    account = gateway.client().v1.accounts.retrieve(row.stripe_account_id)
    assert account.email == founder.email and account.type == "express"
    assert account.metadata["user_id"] == str(founder.id)

    again, second_link = _connect(founder_client)  # a second click: the same account, a new link
    assert again.status_code == 303 and f"/onboard/{row.stripe_account_id}?" in second_link
    assert db.session.execute(db.select(db.func.count()).select_from(PayoutAccount)).scalar() == 1
    assert "Status: onboarding incomplete." in founder_client.get("/me/payouts").get_data(as_text=True)


def test_coming_back_from_onboarding_stores_the_status(founder, founder_client, stripe_standin):
    response = _onboard(founder_client)

    assert response.headers["Location"].endswith("/me/payouts")
    row = _row(founder.id)
    assert row.details_submitted and row.transfers_active and row.payouts_enabled and row.checked_at
    assert row.can_receive_transfers
    html = founder_client.get("/me/payouts").get_data(as_text=True)
    assert "Status: ready to receive transfers." in html and "Your payout account is ready" in html
    # Connecting again does not send a ready founder to Stripe.
    again = founder_client.post("/me/payouts/connect")
    assert again.status_code == 303 and again.headers["Location"].endswith("/me/payouts")


def test_coming_back_without_finishing_stays_incomplete(founder, founder_client, stripe_standin):
    _connect(founder_client)

    response = founder_client.get("/me/payouts/return")

    assert response.status_code == 303
    row = _row(founder.id)
    assert not row.details_submitted and not row.transfers_active and row.checked_at is not None
    html = founder_client.get("/me/payouts").get_data(as_text=True)
    assert "Status: onboarding incomplete." in html and "not ready yet" in html


def test_return_and_refresh_without_an_account_go_back_to_the_page(founder_client, stripe_standin):
    assert founder_client.get("/me/payouts/return").headers["Location"].endswith("/me/payouts")
    assert founder_client.get("/me/payouts/refresh").headers["Location"].endswith("/me/payouts")
    assert founder_client.post("/me/payouts/check").headers["Location"].endswith("/me/payouts")


def test_refresh_makes_a_new_account_link(founder, founder_client, stripe_standin):
    _connect(founder_client)
    row = _row(founder.id)

    response = founder_client.get("/me/payouts/refresh")

    assert response.status_code == 303
    assert response.headers["Location"].startswith(
        f"{stripe_standin.url}/_standin/connect/onboard/{row.stripe_account_id}?")


def test_check_again_reads_the_status_back(founder, founder_client, stripe_standin):
    _, link = _connect(founder_client)
    post_onboarding(link)  # finished at Stripe, but the founder never came back

    assert not _row(founder.id).can_receive_transfers
    assert founder_client.post("/me/payouts/check").status_code == 303
    assert _row(founder.id).can_receive_transfers


def test_accounts_belong_to_their_user(founder, founder_client, make_user, login, stripe_standin):
    _onboard(founder_client)
    other = make_user()
    other_client = login(other)

    assert "Status: not connected." in other_client.get("/me/payouts").get_data(as_text=True)
    assert other_client.get("/me/payouts/return").headers["Location"].endswith("/me/payouts")
    assert _row(other.id) is None
    _, link = _connect(other_client)
    assert _row(other.id).stripe_account_id != _row(founder.id).stripe_account_id
    assert _row(founder.id).stripe_account_id not in link


@pytest.fixture
def unreachable_stripe(app):
    app.config["STRIPE_STANDIN_URL"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    app.extensions.pop("crowdfund_stripe", None)
    app.extensions.pop("crowdfund_csp", None)


def test_stripe_unreachable_on_connect_is_a_message_not_a_500(founder, founder_client, unreachable_stripe):
    response = founder_client.post("/me/payouts/connect")

    assert response.status_code == 303 and response.headers["Location"].endswith("/me/payouts")
    assert _row(founder.id) is None
    html = founder_client.get("/me/payouts").get_data(as_text=True)
    assert "could not reach our payment provider" in html and "Status: not connected." in html


def test_stripe_unreachable_on_return_and_refresh_keeps_the_stored_status(
        app, founder, founder_client, stripe_standin):
    _connect(founder_client)
    app.config["STRIPE_STANDIN_URL"] = "http://127.0.0.1:9"
    app.extensions.pop("crowdfund_stripe", None)

    for response in (founder_client.get("/me/payouts/return"), founder_client.get("/me/payouts/refresh"),
                     founder_client.post("/me/payouts/connect")):
        assert response.status_code == 303 and response.headers["Location"].endswith("/me/payouts")
    assert _row(founder.id).checked_at is None
    assert "could not reach our payment provider" in founder_client.get("/me/payouts").get_data(as_text=True)


def test_stripe_refusing_is_a_message_too(founder, founder_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise GatewayError("Invalid email address")

    monkeypatch.setattr(gateway, "create_connect_account", refuse)
    response = founder_client.post("/me/payouts/connect")

    assert response.status_code == 303 and _row(founder.id) is None


def _token(client, path):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_connect_needs_the_csrf_token(csrf_app, make_user, stripe_standin):
    client = csrf_app.test_client()
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": _token(client, "/login")})

    assert client.post("/me/payouts/connect").status_code == 400
    assert client.post("/me/payouts/check").status_code == 400
    assert _row(user.id) is None

    response = client.post("/me/payouts/connect", data={"csrf_token": _token(client, "/me/payouts")})
    assert response.status_code == 303 and "/_standin/connect/onboard/" in response.headers["Location"]
    assert _row(user.id) is not None


def test_account_updated_webhook_reads_the_account_back(client, founder, founder_client, stripe_standin):
    _, link = _connect(founder_client)
    row = _row(founder.id)
    post_onboarding(link)  # finished at Stripe; the founder closed the tab

    assert _signed_post(client, _account_event(row.stripe_account_id)).status_code == 200

    row = _row(founder.id)
    assert row.can_receive_transfers and row.payouts_enabled and row.checked_at is not None


def test_account_updated_webhook_does_not_trust_the_event_body(client, founder, founder_client, stripe_standin):
    _connect(founder_client)
    row = _row(founder.id)
    event = _account_event(row.stripe_account_id, details_submitted=True, payouts_enabled=True,
                           capabilities={"transfers": "active"})

    assert _signed_post(client, event).status_code == 200

    row = _row(founder.id)
    assert not row.can_receive_transfers and row.checked_at is not None  # Stripe says: not onboarded


def test_account_updated_for_an_unknown_account_is_ignored(client, stripe_standin):
    assert _signed_post(client, _account_event("acct_unknown")).status_code == 200
    assert db.session.execute(db.select(db.func.count()).select_from(PayoutAccount)).scalar() == 0


def test_account_updated_unsigned_is_refused(client, founder, founder_client, stripe_standin):
    _, link = _connect(founder_client)
    post_onboarding(link)
    row = _row(founder.id)
    payload = json.dumps(_account_event(row.stripe_account_id))

    response = client.post("/stripe/webhook", data=payload, headers={"Content-Type": "application/json"})

    assert response.status_code == 400 and not _row(founder.id).can_receive_transfers


# --- launching ---------------------------------------------------------------------------------

@pytest.fixture
def payout_account_required(app):
    app.config["REQUIRE_PAYOUT_ACCOUNT"] = True


def _state(campaign_id):
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).state


def test_launch_waits_for_a_payout_account_that_can_receive_transfers(
        payout_account_required, founder, founder_client, make_campaign, stripe_standin):
    campaign = make_campaign(founder=founder, state="approved")

    page = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert 'href="/me/payouts"' in page and "Launching needs a payout account" in page

    refused = founder_client.post(f"/c/{campaign.slug}/launch")
    assert refused.status_code == 403
    assert "connect a payout account that can receive transfers" in refused.get_data(as_text=True)
    assert _state(campaign.id) == "approved"

    _connect(founder_client)  # connected, onboarding not finished: still refused
    assert founder_client.post(f"/c/{campaign.slug}/launch").status_code == 403
    assert _state(campaign.id) == "approved"

    _onboard(founder_client)
    launched = founder_client.post(f"/c/{campaign.slug}/launch")
    assert launched.status_code == 303 and _state(campaign.id) == "live"


def test_launch_needs_no_payout_account_when_the_setting_is_off(app, founder, founder_client, make_campaign):
    assert app.config["REQUIRE_PAYOUT_ACCOUNT"] is False
    campaign = make_campaign(founder=founder, state="approved")

    assert "Launching needs a payout account" not in founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert founder_client.post(f"/c/{campaign.slug}/launch").status_code == 303
    assert _state(campaign.id) == "live"


def test_require_payout_account_service(app, payout_account_required, founder, stripe_standin):
    from crowdfund.errors import NotAllowed

    with pytest.raises(NotAllowed):
        accounts.require_payout_account_for_launch(founder)
    account_id = gateway.create_connect_account(founder.email, founder.id)
    db.session.add(PayoutAccount(user_id=founder.id, stripe_account_id=account_id))
    db.session.flush()
    with pytest.raises(NotAllowed):
        accounts.require_payout_account_for_launch(founder)
    post_onboarding(gateway.account_link_url(account_id, "http://x.test/r", "http://x.test/ret"))
    assert accounts.store_status(account_id, gateway.account_status(account_id), utcnow()) == "recorded"
    accounts.require_payout_account_for_launch(founder)  # no error now
    assert accounts.status_of(accounts.payout_account_of(founder.id)) == accounts.STATUS_READY
