"""My pledges: every pledge listed; change, cancel and the card page only for the backer's own
open pledges; another user's pledge does not exist for them."""
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge

from .helpers import error_next_to, fresh_campaign, tier_claimed


def _holding(make_pledge, campaign, backer, tier, amount=1000, state="active", **kwargs):
    """A pledge that holds a unit of tier, as start_pledge leaves it."""
    tier.claimed += 1
    db.session.commit()
    return make_pledge(campaign, backer=backer, amount=amount, state=state, reward_tier=tier, **kwargs)


def _pledge(pledge_id) -> Pledge:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Pledge, pledge_id)


def test_my_pledges_lists_every_pledge_with_its_state_and_actions(client, backer, live_campaign, make_pledge):
    open_campaign, ended = live_campaign(), live_campaign(funding_model="flexible")
    active = _holding(make_pledge, open_campaign, backer, open_campaign.reward_tiers[0], amount=1200)
    collected = make_pledge(ended, backer=backer, amount=3000, state="collected")
    make_pledge(open_campaign, amount=999)  # someone else's

    page = client.get("/me/pledges").get_data(as_text=True)

    assert page.count('<tr id="pledge-') == 2
    assert open_campaign.title in page and ended.title in page
    assert "$12.00" in page and "$30.00" in page and "Tier 1" in page and "No reward" in page
    assert "Card saved, not charged yet" in page and "Charged" in page
    assert f"/pledges/{active.id}/edit" in page and f"/pledges/{active.id}/cancel" in page
    assert f"/pledges/{collected.id}/cancel" not in page
    assert "Charged: cannot be cancelled" in page


def test_cancelling_frees_the_reward_unit(client, backer, live_campaign, make_pledge):
    campaign = live_campaign(quantity=1)
    tier = campaign.reward_tiers[0]
    pledge = _holding(make_pledge, campaign, backer, tier)

    confirm_page = client.get(f"/pledges/{pledge.id}/cancel")
    response = client.post(f"/pledges/{pledge.id}/cancel")

    assert confirm_page.status_code == 200 and "Cancel my pledge" in confirm_page.get_data(as_text=True)
    assert response.status_code == 302
    assert _pledge(pledge.id).state == "cancelled"
    assert tier_claimed(tier.id) == 0


def test_a_charged_flexible_pledge_cannot_be_cancelled(client, backer, live_campaign, make_pledge):
    campaign = live_campaign(funding_model="flexible", quantity=3)
    pledge = _holding(make_pledge, campaign, backer, campaign.reward_tiers[0], state="collected")

    page = client.get(f"/pledges/{pledge.id}/cancel")
    response = client.post(f"/pledges/{pledge.id}/cancel")

    assert page.status_code == 409 and "already charged your pledge, so it cannot be cancelled" in \
        page.get_data(as_text=True)
    assert response.status_code == 409
    assert _pledge(pledge.id).state == "collected" and tier_claimed(campaign.reward_tiers[0].id) == 1


def test_after_the_deadline_a_pledge_cannot_be_cancelled(client, backer, make_campaign, make_pledge):
    campaign = fresh_campaign(make_campaign(state="live", launched_at=utcnow() - timedelta(days=31)).id)
    pledge = make_pledge(campaign, backer=backer)

    response = client.post(f"/pledges/{pledge.id}/cancel")

    assert response.status_code == 409 and "deadline has passed" in response.get_data(as_text=True)
    assert _pledge(pledge.id).state == "active"


def test_changing_the_reward_moves_the_claimed_unit(client, backer, live_campaign, make_pledge):
    campaign = live_campaign(quantity=5)
    first, second = campaign.reward_tiers
    second.quantity = 5
    db.session.commit()
    pledge = _holding(make_pledge, campaign, backer, first)

    form = client.get(f"/pledges/{pledge.id}/edit").get_data(as_text=True)
    response = client.post(f"/pledges/{pledge.id}/edit",
                           data={"reward": str(second.id), "amount": "25", "shipping_country": ""})

    assert 'value="10.00"' in form
    assert response.status_code == 302
    changed = _pledge(pledge.id)
    assert (changed.reward_tier_id, changed.amount, changed.state) == (second.id, 2500, "active")
    assert (tier_claimed(first.id), tier_claimed(second.id)) == (0, 1)


def test_changing_to_a_sold_out_reward_keeps_the_pledge_as_it_was(client, backer, live_campaign, make_pledge):
    campaign = live_campaign()
    first, second = campaign.reward_tiers
    second.quantity, second.claimed = 2, 2
    db.session.commit()
    pledge = _holding(make_pledge, campaign, backer, first)

    response = client.post(f"/pledges/{pledge.id}/edit",
                           data={"reward": str(second.id), "amount": "25", "shipping_country": ""})

    assert response.status_code == 409
    assert "sold out" in error_next_to(response.get_data(as_text=True), "reward")
    assert _pledge(pledge.id).reward_tier_id == first.id
    assert (tier_claimed(first.id), tier_claimed(second.id)) == (1, 2)


def test_lowering_the_amount_below_the_rewards_minimum_is_refused(client, backer, live_campaign, make_pledge):
    campaign = live_campaign()
    pledge = _holding(make_pledge, campaign, backer, campaign.reward_tiers[1], amount=2000)

    response = client.post(f"/pledges/{pledge.id}/edit", data={
        "reward": str(campaign.reward_tiers[1].id), "amount": "15", "shipping_country": ""})

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "amount") == \
        "This reward needs a pledge of at least $20.00."
    assert _pledge(pledge.id).amount == 2000


@pytest.mark.parametrize("method, path", [
    ("get", "/pledges/{id}"), ("get", "/pledges/{id}/edit"), ("post", "/pledges/{id}/edit"),
    ("get", "/pledges/{id}/cancel"), ("post", "/pledges/{id}/cancel"), ("get", "/pledges/{id}/card"),
    ("post", "/pledges/{id}/card"), ("post", "/pledges/{id}/complete"),
])
def test_another_users_pledge_is_not_found(client, backer, live_campaign, make_pledge, method, path):
    campaign = live_campaign(quantity=3)
    tier = campaign.reward_tiers[0]
    theirs = _holding(make_pledge, campaign, None, tier)

    response = getattr(client, method)(path.format(id=theirs.id),
                                       data={"reward": str(tier.id), "amount": "50", "shipping_country": ""})

    assert response.status_code == 404
    assert _pledge(theirs.id).state == "active" and _pledge(theirs.id).amount == 1000
    assert tier_claimed(tier.id) == 1
