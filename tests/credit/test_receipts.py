"""Shipped tiers and reward receipts (issue 16): a founder marks a tier shipped, its backers say
whether their reward arrived."""
import pytest
import json
from datetime import date, timedelta

from crowdfund.campaigns.models import RewardTier
from crowdfund.clock import utcnow
from crowdfund.credit.models import RewardReceipt
from crowdfund.extensions import db
from crowdfund.outbox import OutboxEvent

pytestmark = pytest.mark.sqlite_only


def _events(kind):
    return [json.loads(e.payload) for e in db.session.execute(
        db.select(OutboxEvent).where(OutboxEvent.kind == kind).order_by(OutboxEvent.id)).scalars()]


def _receipts():
    db.session.expire_all()
    return list(db.session.execute(db.select(RewardReceipt)).scalars())


def _tier(campaign):
    return db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == campaign.id)).scalars().first()


def _funded(make_campaign, make_pledge, founder, backer, shipped=False):
    campaign = make_campaign(founder=founder, state="live")
    tier = _tier(campaign)
    pledge = make_pledge(campaign, backer=backer, state="collected", reward_tier=tier)
    campaign.state = "successful"
    if shipped:
        tier.shipped_at = utcnow()
    db.session.commit()
    return campaign, tier, pledge


# --- Marking a tier shipped ---------------------------------------------------------------------------

def test_the_owner_marks_a_tier_shipped_from_the_dashboard(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    campaign, tier, _pledge = _funded(make_campaign, make_pledge, founder, backer)
    client = login(founder)
    dashboard = client.get(f"/c/{campaign.slug}/dashboard").get_data(as_text=True)
    assert f"/c/{campaign.slug}/tiers/{tier.id}/shipped" in dashboard

    response = client.post(f"/c/{campaign.slug}/tiers/{tier.id}/shipped")

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(RewardTier, tier.id).shipped_at is not None
    assert _events("tier.shipped") == [{"campaign_id": campaign.id, "tier_id": tier.id}]
    # Marking it again changes nothing and emits nothing more.
    client.post(f"/c/{campaign.slug}/tiers/{tier.id}/shipped")
    assert len(_events("tier.shipped")) == 1


def test_only_the_owner_can_mark_a_tier_shipped(login, make_user, make_campaign, make_pledge):
    founder, backer, moderator = make_user(), make_user(), make_user(role="moderator")
    campaign, tier, _pledge = _funded(make_campaign, make_pledge, founder, backer)

    for user in (backer, moderator):
        assert login(user).post(f"/c/{campaign.slug}/tiers/{tier.id}/shipped").status_code == 404

    db.session.expire_all()
    assert db.session.get(RewardTier, tier.id).shipped_at is None
    assert _events("tier.shipped") == []


def test_a_tier_of_a_campaign_that_is_not_funded_cannot_be_marked_shipped(login, make_user, make_campaign):
    founder = make_user()
    campaign = make_campaign(founder=founder, state="live")
    tier = _tier(campaign)

    response = login(founder).post(f"/c/{campaign.slug}/tiers/{tier.id}/shipped")

    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(RewardTier, tier.id).shipped_at is None


def test_a_tier_of_another_campaign_is_not_found(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    campaign, _tier_, _pledge = _funded(make_campaign, make_pledge, founder, backer)
    other_tier = _tier(make_campaign(state="successful"))

    response = login(founder).post(f"/c/{campaign.slug}/tiers/{other_tier.id}/shipped")

    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(RewardTier, other_tier.id).shipped_at is None


# --- Confirming receipt ---------------------------------------------------------------------------------

def test_the_backer_confirms_receipt_once_the_tier_is_shipped(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    campaign, tier, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=True)
    client = login(backer)
    page = client.get(f"/pledges/{pledge.id}").get_data(as_text=True)
    assert "Did your reward arrive?" in page and f"/pledges/{pledge.id}/receipt" in page

    response = client.post(f"/pledges/{pledge.id}/receipt", data={"state": "received", "note": "Lovely bread"})

    assert response.status_code == 303
    [receipt] = _receipts()
    assert (receipt.pledge_id, receipt.campaign_id, receipt.state, receipt.note) == (
        pledge.id, campaign.id, "received", "Lovely bread")
    assert _events("receipt.marked") == [{"pledge_id": pledge.id, "campaign_id": campaign.id}]
    assert "You said on" in client.get(f"/pledges/{pledge.id}").get_data(as_text=True)


def test_the_backer_can_change_their_answer_and_there_stays_one_receipt(login, make_user, make_campaign,
                                                                        make_pledge):
    founder, backer = make_user(), make_user()
    _campaign, _tier_, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=True)
    client = login(backer)
    client.post(f"/pledges/{pledge.id}/receipt", data={"state": "not_received"})

    client.post(f"/pledges/{pledge.id}/receipt", data={"state": "received"})

    assert [r.state for r in _receipts()] == ["received"]
    assert len(_events("receipt.marked")) == 2


def test_a_backer_cannot_confirm_receipt_for_someone_elses_pledge(login, make_user, make_campaign, make_pledge):
    founder, backer, other = make_user(), make_user(), make_user()
    campaign, _tier_, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=True)
    make_pledge(campaign, backer=other, state="collected", reward_tier=_tier(campaign))

    for user in (other, founder):
        response = login(user).post(f"/pledges/{pledge.id}/receipt", data={"state": "not_received"})
        assert response.status_code == 404

    assert _receipts() == []
    assert _events("receipt.marked") == []


def test_receipt_only_after_the_tier_is_shipped(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    _campaign, _tier_, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=False)
    client = login(backer)
    assert "Did your reward arrive?" not in client.get(f"/pledges/{pledge.id}").get_data(as_text=True)

    response = client.post(f"/pledges/{pledge.id}/receipt", data={"state": "received"})

    assert response.status_code == 409
    assert _receipts() == []


def test_receipt_opens_once_the_estimated_delivery_month_is_over(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    _campaign, tier, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=False)
    last_month = date.today().replace(day=1) - timedelta(days=1)
    tier.estimated_delivery = last_month.replace(day=1)
    db.session.commit()

    response = login(backer).post(f"/pledges/{pledge.id}/receipt", data={"state": "not_received"})

    assert response.status_code == 303
    assert [r.state for r in _receipts()] == ["not_received"]


def test_a_pledge_that_was_not_charged_cannot_confirm_receipt(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    campaign = make_campaign(founder=founder, state="live")
    tier = _tier(campaign)
    pledge = make_pledge(campaign, backer=backer, state="void", reward_tier=tier)
    campaign.state, tier.shipped_at = "successful", utcnow()
    db.session.commit()

    assert login(backer).post(f"/pledges/{pledge.id}/receipt", data={"state": "received"}).status_code == 409
    assert _receipts() == []


def test_an_unknown_answer_is_refused_next_to_the_field(login, make_user, make_campaign, make_pledge):
    founder, backer = make_user(), make_user()
    _campaign, _tier_, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=True)

    response = login(backer).post(f"/pledges/{pledge.id}/receipt", data={"state": "maybe"})

    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert _receipts() == []


def test_the_founder_sees_receipt_counts_per_tier(login, make_user, make_campaign, make_pledge):
    founder, backer, second = make_user(), make_user(), make_user()
    campaign, tier, pledge = _funded(make_campaign, make_pledge, founder, backer, shipped=True)
    other = make_pledge(campaign, backer=second, state="collected", reward_tier=tier)
    login(backer).post(f"/pledges/{pledge.id}/receipt", data={"state": "received"})
    login(second).post(f"/pledges/{other.id}/receipt", data={"state": "not_received"})

    html = login(founder).get(f"/c/{campaign.slug}/dashboard").get_data(as_text=True)

    row = html[html.index(f'<tr data-tier="{tier.id}">'):]
    row = row[:row.index("</tr>")]
    assert '<td class="num">1</td>\n          <td class="num">1</td>' in row
