"""The stand-in's Connect routes (crowdfund/payments/standin_connect.py), driven through the gateway
as the app drives them, plus the onboarding page as a browser would post it."""
import urllib.error
import urllib.parse
import urllib.request

import pytest

from crowdfund.payments import gateway
from crowdfund.payments.gateway import GatewayError

RETURN_URL = "http://app.example/me/payouts/return?x=1"
REFRESH_URL = "http://app.example/me/payouts/refresh"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_onboarding(url: str):
    """POST the "Complete onboarding" form at an account link's URL: (status, Location)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=b"", method="POST"), timeout=10) as response:
            return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")


def onboarded_account(email="founder@example.com", user_id=1) -> str:
    account_id = gateway.create_connect_account(email, user_id)
    status, _ = post_onboarding(gateway.account_link_url(account_id, REFRESH_URL, RETURN_URL))
    assert status == 303
    return account_id


def _transfer(destination, amount=1000, group="campaign-1", key="k-1", metadata=None):
    return gateway.create_transfer(amount, "EUR", destination, group, key, metadata or {"release_id": "1"})


def test_a_new_account_is_not_onboarded(app, stripe_standin):
    account_id = gateway.create_connect_account("founder@example.com", 7, country="FR")

    assert account_id.startswith("acct_")
    assert gateway.account_status(account_id) == gateway.AccountStatus(False, False, False)
    account = gateway.client().v1.accounts.retrieve(account_id).to_dict()
    assert account["object"] == "account" and account["type"] == "express"
    assert account["email"] == "founder@example.com" and account["country"] == "FR"
    assert account["metadata"] == {"user_id": "7"}  # nested form keys parsed as the SDK sends them
    assert account["capabilities"] == {"transfers": "inactive"} and account["charges_enabled"] is False


def test_an_unknown_account_is_a_stripe_style_404(app, stripe_standin):
    with pytest.raises(GatewayError, match="No such account"):
        gateway.account_status("acct_nope")
    status, body = stripe_standin.request("GET", "/v1/accounts/acct_nope",
                                          headers={"Authorization": "Bearer sk_test_12345"})
    assert status == 404 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "resource_missing"


def test_routes_need_the_api_key(app, stripe_standin):
    assert stripe_standin.request("POST", "/v1/accounts", {"type": "express"})[0] == 401
    assert stripe_standin.request("GET", "/v1/transfers")[0] == 401


def test_account_link_leads_to_the_onboarding_page_which_completes_onboarding(app, stripe_standin):
    account_id = gateway.create_connect_account("founder@example.com", 1)
    url = gateway.account_link_url(account_id, REFRESH_URL, RETURN_URL)

    assert url.startswith(f"{stripe_standin.url}/_standin/connect/onboard/{account_id}?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["return_url"] == [RETURN_URL]
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert "Test onboarding" in page and "Complete onboarding" in page and 'method="post"' in page

    assert post_onboarding(url) == (303, RETURN_URL)
    assert gateway.account_status(account_id) == gateway.AccountStatus(True, True, True)
    account = gateway.client().v1.accounts.retrieve(account_id)
    assert account.charges_enabled is True and account.capabilities["transfers"] == "active"


def test_account_link_for_an_unknown_account_is_refused(app, stripe_standin):
    with pytest.raises(GatewayError, match="No such account"):
        gateway.account_link_url("acct_nope", REFRESH_URL, RETURN_URL)
    assert post_onboarding(f"{stripe_standin.url}/_standin/connect/onboard/acct_nope?return_url=x")[0] == 404


def test_a_transfer_to_an_onboarded_account(app, stripe_standin):
    account_id = onboarded_account()
    transfer_id = _transfer(account_id, amount=1234, metadata={"release_id": "9"})

    transfer = gateway.client().v1.transfers.retrieve(transfer_id).to_dict()
    assert transfer_id.startswith("tr_")
    assert transfer["object"] == "transfer" and transfer["amount"] == 1234 and transfer["currency"] == "eur"
    assert transfer["destination"] == account_id and transfer["transfer_group"] == "campaign-1"
    assert transfer["metadata"] == {"release_id": "9"} and transfer["reversed"] is False


def test_the_same_idempotency_key_gives_the_same_transfer(app, stripe_standin):
    account_id = onboarded_account()

    first = _transfer(account_id, key="release-1")
    assert _transfer(account_id, key="release-1") == first
    assert _transfer(account_id, key="release-2") != first
    listed = gateway.client().v1.transfers.list(params={"transfer_group": "campaign-1", "limit": 100})
    assert len(listed.data) == 2


def test_an_idempotency_key_reused_with_other_parameters_is_refused(app, stripe_standin):
    account_id = onboarded_account()
    _transfer(account_id, amount=1000, key="release-1")

    with pytest.raises(GatewayError, match="same parameters"):
        _transfer(account_id, amount=2000, key="release-1")


def test_a_transfer_to_an_unknown_destination_is_refused(app, stripe_standin):
    with pytest.raises(GatewayError, match="No such destination"):
        _transfer("acct_nope")


def test_a_transfer_to_an_account_not_yet_onboarded_is_refused(app, stripe_standin):
    account_id = gateway.create_connect_account("founder@example.com", 1)

    with pytest.raises(GatewayError, match="capabilities"):
        _transfer(account_id)
    assert gateway.find_transfer("campaign-1", "release_id", "1") is None


@pytest.mark.parametrize("amount", [0, -5])
def test_a_transfer_needs_a_positive_amount(app, stripe_standin, amount):
    account_id = onboarded_account()
    with pytest.raises(GatewayError):
        _transfer(account_id, amount=amount)


def test_transfers_are_listed_by_group_newest_first(app, stripe_standin):
    account_id = onboarded_account()
    first = _transfer(account_id, group="campaign-1", key="a", metadata={"release_id": "1"})
    second = _transfer(account_id, group="campaign-1", key="b", metadata={"release_id": "2"})
    _transfer(account_id, group="campaign-2", key="c", metadata={"release_id": "3"})

    assert gateway.find_transfer("campaign-1", "release_id", "2") == second
    assert gateway.find_transfer("campaign-1", "release_id", "1") == first
    assert gateway.find_transfer("campaign-1", "release_id", "3") is None
    assert gateway.find_transfer("campaign-3", "release_id", "1") is None
    listed = gateway.client().v1.transfers.list(params={"transfer_group": "campaign-1", "limit": 1})
    assert [t.id for t in listed.data] == [second] and listed.has_more is True
    everything = gateway.client().v1.transfers.list(params={"limit": 100})
    assert everything.object == "list" and len(everything.data) == 3 and everything.has_more is False


def test_the_reset_empties_the_connect_data(app, stripe_standin):
    account_id = onboarded_account()
    transfer_id = _transfer(account_id)

    stripe_standin.reset()
    with pytest.raises(GatewayError):
        gateway.account_status(account_id)
    assert stripe_standin.request("GET", f"/v1/transfers/{transfer_id}",
                                  headers={"Authorization": "Bearer sk_test_12345"})[0] == 404
