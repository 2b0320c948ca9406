"""The pledge form refuses what the campaign cannot take, says why next to the field, and
creates nothing: no pledge, no reward unit claimed (so no call to Stripe is made either)."""
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.extensions import db

from .helpers import error_next_to, fresh_campaign, pledges_in, tier_claimed


def _pledge(client, campaign, **data):
    form = {"reward": "none", "amount": "25", "shipping_country": ""}
    form.update(data)
    return client.post(f"/c/{campaign.slug}/pledge", data=form)


def test_pledge_page_offers_every_reward_and_the_countries(client, backer, live_campaign):
    campaign = live_campaign(ships=True)

    page = client.get(f"/c/{campaign.slug}/pledge?tier={campaign.reward_tiers[0].id}").get_data(as_text=True)

    assert "No reward, I just want to support it" in page
    assert "Tier 1" in page and "Tier 2" in page
    assert "plus $5.00 shipping" in page
    assert f'<input checked data-ships="1" id="reward-1" name="reward" required type="radio" ' \
        f'value="{campaign.reward_tiers[0].id}">' in page
    assert "disabled" not in page
    assert '<option value="DE">Germany</option>' in page
    assert '<option value="EU">' not in page  # not a country


def test_pledging_needs_a_login(client, live_campaign):
    campaign = live_campaign()

    response = client.get(f"/c/{campaign.slug}/pledge")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_amount_below_the_tiers_minimum_is_refused(client, backer, live_campaign):
    campaign = live_campaign(quantity=5)
    tier = campaign.reward_tiers[0]

    response = _pledge(client, campaign, reward=str(tier.id), amount="9.99")

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "amount") == \
        "This reward needs a pledge of at least $10.00."
    assert pledges_in(campaign) == [] and tier_claimed(tier.id) == 0


@pytest.mark.parametrize("amount, message", [
    ("ten", "Enter a number, like 1250 or 1250.50."),
    ("10.505", "USD amounts have at most 2 decimal places."),
    ("0", "The amount must be more than zero."),
    ("", "Enter an amount."),
])
def test_an_amount_that_is_not_a_valid_amount_is_refused(client, backer, live_campaign, amount, message):
    campaign = live_campaign()

    response = _pledge(client, campaign, amount=amount)

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "amount") == message
    assert pledges_in(campaign) == []


def test_a_reward_that_ships_needs_a_country(client, backer, live_campaign):
    campaign = live_campaign(quantity=5, ships=True)
    tier = campaign.reward_tiers[0]

    response = _pledge(client, campaign, reward=str(tier.id), amount="10")

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "shipping_country") == \
        "Choose the country the reward ships to."
    assert pledges_in(campaign) == [] and tier_claimed(tier.id) == 0


def test_a_country_not_in_the_list_is_refused(client, backer, live_campaign):
    campaign = live_campaign(ships=True)

    response = _pledge(client, campaign, reward=str(campaign.reward_tiers[0].id), amount="10", shipping_country="EU")

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "shipping_country") == "Not a valid choice."
    assert pledges_in(campaign) == []


@pytest.mark.parametrize("state, past_deadline", [("live", True), ("successful", False), ("approved", False)])
def test_a_campaign_that_is_not_open_takes_no_pledges(client, backer, make_campaign, make_user, state,
                                                      past_deadline):
    campaign = make_campaign(state=state, tier_quantity=5,
                             launched_at=utcnow() - timedelta(days=31) if past_deadline else None)
    tier_id = fresh_campaign(campaign.id).reward_tiers[0].id

    response = _pledge(client, campaign, reward=str(tier_id), amount="10")

    assert response.status_code in (404, 409)  # an approved campaign is not public yet
    if response.status_code == 409:
        assert "not taking pledges" in response.get_data(as_text=True)
    assert pledges_in(campaign) == [] and tier_claimed(tier_id) == 0


def test_the_founder_cannot_back_their_own_campaign(client, auth, make_user, live_campaign):
    founder = make_user()
    campaign = live_campaign(quantity=5, founder=founder)
    auth.login(founder)

    response = _pledge(client, campaign, reward=str(campaign.reward_tiers[0].id), amount="10")

    assert response.status_code == 403
    assert "You cannot back your own campaign." in response.get_data(as_text=True)
    assert pledges_in(campaign) == [] and tier_claimed(campaign.reward_tiers[0].id) == 0
    assert "Back this project" not in client.get(f"/c/{campaign.slug}").get_data(as_text=True)


def test_a_sold_out_reward_is_shown_disabled_and_refused(client, backer, live_campaign):
    campaign = live_campaign(quantity=3)
    tier = campaign.reward_tiers[0]
    tier.claimed = 3
    db.session.commit()

    page = client.get(f"/c/{campaign.slug}/pledge").get_data(as_text=True)
    response = _pledge(client, campaign, reward=str(tier.id), amount="10")

    assert f'<input disabled id="reward-1" name="reward" required type="radio" value="{tier.id}">' in page
    assert response.status_code == 409
    assert error_next_to(response.get_data(as_text=True), "reward") == \
        "This reward is sold out. Choose another reward or pledge without one."
    assert pledges_in(campaign) == [] and tier_claimed(tier.id) == 3


def test_a_reward_of_another_campaign_is_not_a_choice(client, backer, live_campaign):
    campaign, other = live_campaign(), live_campaign()

    response = _pledge(client, campaign, reward=str(other.reward_tiers[0].id), amount="10")

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "reward") == "Not a valid choice."
    assert pledges_in(campaign) == []
