"""Pledging end to end against the Stripe stand-in: start (a pending pledge with a SetupIntent),
the card page, completing once the card is confirmed, the confirmation page and the receipt."""
import re

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.pledges import services
from crowdfund.pledges.models import Pledge
from crowdfund.pledges.services import pledged_totals

from .helpers import confirm_card_in_browser, pledges_in, tier_claimed


def _start(client, campaign, tier=None, amount="25", country=""):
    return client.post(f"/c/{campaign.slug}/pledge", data={
        "reward": str(tier.id) if tier else "none", "amount": amount, "shipping_country": country})


def test_starting_a_pledge_makes_a_pending_pledge_with_a_setup_intent(client, backer, live_campaign,
                                                                      stripe_standin):
    campaign = live_campaign(quantity=5, ships=True)
    tier = campaign.reward_tiers[0]

    response = _start(client, campaign, tier, amount="12.50", country="DE")

    [pledge] = pledges_in(campaign)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/pledges/{pledge.id}/card")
    assert (pledge.state, pledge.backer_id, pledge.reward_tier_id) == ("pending", backer.id, tier.id)
    assert (pledge.amount, pledge.shipping_amount, pledge.shipping_country) == (1750, 500, "DE")
    assert tier_claimed(tier.id) == 1
    intent = gateway.client().v1.setup_intents.retrieve(pledge.stripe_setup_intent_id)
    assert intent.customer == pledge.stripe_customer_id
    assert intent.status == "requires_payment_method"


def test_the_card_page_loads_stripe_js_with_the_intents_secret_and_no_inline_script(client, backer,
                                                                                   live_campaign, stripe_standin):
    campaign = live_campaign()
    _start(client, campaign)
    [pledge] = pledges_in(campaign)

    response = client.get(f"/pledges/{pledge.id}/card")
    page = response.get_data(as_text=True)

    secret = gateway.client().v1.setup_intents.retrieve(pledge.stripe_setup_intent_id).client_secret
    assert f'data-client-secret="{secret}"' in page
    assert f'<script src="{stripe_standin.url}/js.stripe.com/v3/"></script>' in page
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    csp = response.headers["Content-Security-Policy"]
    for directive in ("script-src", "connect-src", "frame-src"):
        assert re.search(rf"{directive} 'self'[^;]* {re.escape(stripe_standin.url)}", csp), directive
    assert "unsafe-inline" not in csp


def test_completing_with_a_confirmed_card_makes_the_pledge_active_and_sends_a_receipt(
        client, backer, live_campaign, stripe_standin, outbox):
    campaign = live_campaign(quantity=5)
    tier = campaign.reward_tiers[0]
    _start(client, campaign, tier, amount="10")
    [pledge] = pledges_in(campaign)
    confirm_card_in_browser(pledge)

    response = client.post(f"/pledges/{pledge.id}/complete")

    [pledge] = pledges_in(campaign)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pledges/{pledge.id}")
    assert pledge.state == "active"
    assert pledge.card_summary == "Visa •••• 4242"
    method = gateway.client().v1.payment_methods.retrieve(pledge.stripe_payment_method_id)
    assert method.customer == pledge.stripe_customer_id
    page = client.get(f"/pledges/{pledge.id}").get_data(as_text=True)
    assert "Card saved, not charged yet" in page and "Visa •••• 4242" in page and "Tier 1" in page
    assert "You will be charged $10.00 only if the campaign reaches its goal of $1,000.00 on" in page
    [receipt] = outbox
    assert receipt["To"] == backer.email and campaign.title in receipt["Subject"]
    text = receipt.get_body(preferencelist=("plain",)).get_content()
    assert "$10.00" in text and "Visa •••• 4242" in text and f"/pledges/{pledge.id}" in text


def test_completing_before_the_card_is_confirmed_is_refused(client, backer, live_campaign, stripe_standin, outbox):
    campaign = live_campaign()
    _start(client, campaign)
    [pledge] = pledges_in(campaign)

    response = client.post(f"/pledges/{pledge.id}/complete")

    assert response.status_code == 409
    assert "Your card was not confirmed" in response.get_data(as_text=True)
    assert pledges_in(campaign)[0].state == "pending" and outbox == []


def test_a_flexible_pledge_is_charged_as_soon_as_the_card_is_confirmed(client, backer, live_campaign,
                                                                       stripe_standin):
    campaign = live_campaign(funding_model="flexible")
    _start(client, campaign, amount="30")
    [pledge] = pledges_in(campaign)
    confirm_card_in_browser(pledge)

    client.post(f"/pledges/{pledge.id}/complete")

    [pledge] = pledges_in(campaign)
    assert pledge.state == "collected"
    intent = gateway.client().v1.payment_intents.retrieve(pledge.stripe_payment_intent_id)
    assert (intent.status, intent.amount, intent.customer) == ("succeeded", 3000, pledge.stripe_customer_id)


def test_a_declined_flexible_pledge_asks_for_another_card_then_is_charged(client, backer, live_campaign,
                                                                         stripe_standin, outbox):
    campaign = live_campaign(funding_model="flexible")
    _start(client, campaign, amount="30")
    [pledge] = pledges_in(campaign)
    confirm_card_in_browser(pledge, "4000000000000341")

    declined = client.post(f"/pledges/{pledge.id}/complete")

    assert declined.headers["Location"].endswith(f"/pledges/{pledge.id}/card")
    [pledge] = pledges_in(campaign)
    assert pledge.state == "pending" and outbox == []
    assert pledged_totals([campaign.id]) == {}  # a declined card makes nobody a backer
    confirm_card_in_browser(pledge, "4242424242424242")  # the new SetupIntent the card page shows
    client.post(f"/pledges/{pledge.id}/complete")
    [pledge] = pledges_in(campaign)
    assert pledge.state == "collected" and pledge.card_summary.endswith("4242")
    [receipt] = outbox
    assert "was charged" in receipt["Subject"]


def test_a_flexible_pledge_needing_3d_secure_is_confirmed_on_session_then_paid(client, backer, live_campaign,
                                                                               stripe_standin):
    campaign = live_campaign(funding_model="flexible")
    _start(client, campaign, amount="30")
    [pledge] = pledges_in(campaign)
    confirm_card_in_browser(pledge, "4000002500003155")

    completed = client.post(f"/pledges/{pledge.id}/complete")

    assert completed.headers["Location"].endswith(f"/pledges/{pledge.id}/fix")
    [pledge] = pledges_in(campaign)
    assert (pledge.state, pledge.last_error) == ("errored", "authentication_required")
    page = client.get(f"/pledges/{pledge.id}/fix")
    secret = re.search(r'data-client-secret="([^"]+)"', page.text).group(1)
    status, _ = stripe_standin.request(  # what the stand-in Stripe.js posts after "Complete authentication"
        "POST", f"/v1/payment_intents/{pledge.stripe_payment_intent_id}/_authenticate?success=true",
        {"key": stripe_standin.publishable_key, "client_secret": secret})
    assert status == 200
    client.post(f"/pledges/{pledge.id}/fix/confirmed")
    [pledge] = pledges_in(campaign)
    assert pledge.state == "collected"


def test_updating_the_card_saves_the_new_one_and_forgets_the_old(client, backer, live_campaign, stripe_standin):
    campaign = live_campaign()
    _start(client, campaign)
    [pledge] = pledges_in(campaign)
    confirm_card_in_browser(pledge)
    client.post(f"/pledges/{pledge.id}/complete")
    old_card = pledges_in(campaign)[0].stripe_payment_method_id

    assert client.post(f"/pledges/{pledge.id}/card").headers["Location"].endswith(f"/pledges/{pledge.id}/card")
    [pledge] = pledges_in(campaign)
    confirm_card_in_browser(pledge, "5555555555554444")
    client.post(f"/pledges/{pledge.id}/complete")

    [pledge] = pledges_in(campaign)
    assert pledge.state == "active"
    assert pledge.stripe_payment_method_id != old_card and pledge.card_summary.endswith("4444")
    assert gateway.client().v1.payment_methods.retrieve(old_card).customer is None


def test_a_stripe_failure_while_starting_leaves_no_open_pledge_and_frees_the_unit(client, backer, live_campaign, app):
    # No stand-in is running at this address, so the first Stripe call fails.
    app.config["STRIPE_STANDIN_URL"] = "http://127.0.0.1:9"
    app.extensions.pop("crowdfund_stripe", None)
    campaign = live_campaign(quantity=5)
    tier = campaign.reward_tiers[0]

    response = _start(client, campaign, tier, amount="10")

    assert response.status_code == 503
    assert "Nothing was charged" in response.get_data(as_text=True)
    assert [p.state for p in pledges_in(campaign)] == ["cancelled"] and tier_claimed(tier.id) == 0


def test_the_campaign_page_invites_backers_and_says_test_mode(client, live_campaign):
    campaign = live_campaign(quantity=5)
    tier = campaign.reward_tiers[0]

    page = client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert f'href="/c/{campaign.slug}/pledge">Back this project</a>' in page
    assert f'href="/c/{campaign.slug}/pledge?tier={tier.id}">Select this reward</a>' in page
    assert "Test mode — no real money is charged." in page


def test_a_second_pledge_on_the_same_campaign_goes_to_the_existing_one(client, backer, live_campaign,
                                                                       make_pledge):
    campaign = live_campaign()
    pledge = make_pledge(campaign, backer=backer, state="active")

    response = client.get(f"/c/{campaign.slug}/pledge")

    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pledges/{pledge.id}/edit")


def test_abandoned_pending_pledges_expire_and_free_their_units(app, live_campaign, make_pledge):
    campaign = live_campaign(quantity=2)
    tier = campaign.reward_tiers[0]
    tier.claimed = 2
    db.session.commit()
    old = make_pledge(campaign, state="pending", reward_tier=tier, created_at=utcnow().replace(year=2020))
    recent = make_pledge(campaign, state="pending", reward_tier=tier)

    expired = services.expire_abandoned_pledges(utcnow())
    db.session.commit()

    assert expired == 1
    assert db.session.get(Pledge, old.id).state == "cancelled"
    assert db.session.get(Pledge, recent.id).state == "pending"
    assert tier_claimed(tier.id) == 1
