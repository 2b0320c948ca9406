"""The risk engine on the database: signals gathered from real rows, assessed through the outbox
events and the pledge route, for the scenarios moderators care about (and honest controls)."""
import hashlib
import hmac
from datetime import timedelta

from crowdfund.campaigns.lifecycle import submit_for_review
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.media.services import store_image
from crowdfund.pledges.models import Pledge
from crowdfund.risk.assessment import assess
from crowdfund.risk.models import RiskAssessment, RiskHistoryPoint, StoryBand, StorySignature
from crowdfund.risk.signals import campaign_signals
from crowdfund.updates.models import Update

from .helpers import codes_of, confirm_card, funded as _funded, picture, reason_of

ORIGINAL = (
    "Our family workshop in Porto has carved cork stoppers for wineries since 1962. With this campaign we "
    "replace the hand press that my grandfather built with a quieter electric one, train two apprentices "
    "from the village school, and open a small shop window so visitors can watch the cork being cut. "
    "Every backer receives a set of coasters made from offcuts, and the largest tier includes a visit to "
    "the forest where the bark is harvested every nine years without harming the trees.")
OTHER = (
    "We roast coffee in a converted shipping container behind the train station in Ghent and want to add "
    "a second roaster so we can supply the two bakeries that asked us last spring. The money pays for the "
    "roaster, its ventilation and the permit, and backers get beans every month for half a year, roasted "
    "the week they are sent, with notes from the farm in Huila that grows them.")


def _draft(make_campaign, story, **kwargs):
    return make_campaign(state="draft", story=story, **kwargs)


def test_a_copied_story_is_flagged_when_submitted_and_an_original_one_is_not(make_campaign):
    original = make_campaign(state="live", story=ORIGINAL)
    assess(original.id, utcnow())
    db.session.commit()
    copied = _draft(make_campaign, ORIGINAL.replace("Porto", "Lisbon").replace("1962", "1971"))
    honest = _draft(make_campaign, OTHER)

    for campaign in (copied, honest):
        submit_for_review(db.session.get(Campaign, campaign.id), _founder(campaign), utcnow())
        db.session.commit()  # campaign.submitted is delivered after commit: the risk observer assesses

    assert "duplicate_story" in codes_of(copied.id)
    detail = reason_of(copied.id, "duplicate_story")["detail"]
    assert detail["matches"][0][0] == original.slug and detail["similarity"] >= 0.8
    assert "duplicate_story" not in codes_of(honest.id)
    # the bands are stored for an indexed candidate query
    assert db.session.scalar(db.select(db.func.count(StoryBand.id)).where(StoryBand.campaign_id == copied.id)) == 32
    assert len(db.session.get(StorySignature, copied.id).signature) == 128

    # once launched, the match found in review stands (the texts are no longer compared every day)
    db.session.get(Campaign, copied.id).state = "live"
    db.session.commit()
    assess(copied.id, utcnow())
    assert reason_of(copied.id, "duplicate_story")["detail"]["matches"][0][0] == original.slug


def test_the_same_founders_relaunch_is_not_a_duplicate(make_campaign, make_user):
    founder = make_user()
    first = make_campaign(founder=founder, state="failed", story=ORIGINAL)
    assess(first.id, utcnow())
    again = make_campaign(founder=founder, state="in_review", story=ORIGINAL)
    assess(again.id, utcnow())
    db.session.commit()
    assert "duplicate_story" not in codes_of(again.id)


def _founder(campaign):
    from crowdfund.accounts.models import User

    return db.session.get(User, campaign.founder_id)


def _with_cover(campaign, data):
    campaign = db.session.get(Campaign, campaign.id)
    campaign.cover = store_image(data, "cover")
    db.session.commit()
    return campaign


def test_the_same_image_on_two_campaigns_is_flagged(make_campaign):
    first = _with_cover(make_campaign(state="live", story=ORIGINAL), picture(1))
    second = _with_cover(make_campaign(state="in_review", story=OTHER), picture(1))
    third = _with_cover(make_campaign(state="in_review", story=OTHER + " Thank you."), picture(2))
    assert first.cover.phash and len(first.cover.phash) == 16  # stored with the image

    now = utcnow()
    for campaign in (first, second, third):
        assess(campaign.id, now)
    db.session.commit()

    assert "matching_images" in codes_of(second.id)
    assert reason_of(second.id, "matching_images")["detail"]["matches"] == [[first.slug, 0]]
    assert "matching_images" not in codes_of(third.id)


def test_a_founder_backing_their_own_campaign_is_flagged(make_campaign, make_user, make_pledge):
    campaign = make_campaign(state="live")
    honest = make_campaign(state="live")
    make_pledge(campaign, backer=_founder(campaign))
    make_pledge(honest)
    now = utcnow()
    assert campaign_signals(campaign.id, now).founder_pledged
    assert not campaign_signals(honest.id, now).founder_pledged


def test_a_pledge_with_the_founders_card_counts_as_self_backing(make_campaign, make_user, make_pledge):
    campaign = make_campaign(state="live")
    elsewhere = make_campaign(state="live")
    founder_pledge = make_pledge(elsewhere, backer=_founder(campaign))
    founder_pledge.card_fingerprint = "fp-founder"
    straw_man = make_pledge(campaign)
    straw_man.card_fingerprint = "fp-founder"
    db.session.commit()
    assert campaign_signals(campaign.id, utcnow()).founder_pledged


OWN_CARDS = ("4000056655665556", "5555555555554444", "2223003122003222", "5200828282828210", "6011111111111117")


def _pledge_from(client, auth, user, campaign, address):
    auth.login(user)
    environ = {"REMOTE_ADDR": address}
    response = client.post(f"/c/{campaign.slug}/pledge", data={"reward": "none", "amount": "25"},
                           environ_base=environ)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    pledge = db.session.execute(db.select(Pledge).where(Pledge.campaign_id == campaign.id,
                                                        Pledge.backer_id == user.id)).scalar_one()
    return pledge, environ


def test_five_pledges_from_one_address_through_the_pledge_route(app, client, auth, make_campaign, make_user,
                                                                 stripe_standin):
    campaign = make_campaign(state="live")
    control = make_campaign(state="live")
    for n in range(5):
        pledge, environ = _pledge_from(client, auth, make_user(), campaign, "203.0.113.7")
        confirm_card(pledge.stripe_setup_intent_id, "4242424242424242")
        assert client.post(f"/pledges/{pledge.id}/complete", environ_base=environ).status_code == 302
        auth.logout()
    for n in range(5):  # the same number of backers, each from their own address
        pledge, environ = _pledge_from(client, auth, make_user(), control, f"198.51.100.{n + 1}")
        confirm_card(pledge.stripe_setup_intent_id, OWN_CARDS[n])
        client.post(f"/pledges/{pledge.id}/complete", environ_base=environ)
        auth.logout()

    db.session.expire_all()
    pledges = db.session.execute(db.select(Pledge).where(Pledge.campaign_id == campaign.id)).scalars().all()
    expected = hmac.new(app.config["SECRET_KEY"].encode(), b"203.0.113.7", hashlib.sha256).hexdigest()
    assert {p.client_ip_hash for p in pledges} == {expected}  # a keyed hash, never the address
    assert all(p.state == "active" and p.card_fingerprint for p in pledges)
    # pledge.completed was delivered: the risk observer assessed the campaign
    assert "pledges_one_ip" in codes_of(campaign.id)
    assert reason_of(campaign.id, "pledges_one_ip")["detail"]["pledges"] == 5
    # the same card behind five backers
    assert "card_shared" in codes_of(campaign.id)
    assert codes_of(control.id) and "pledges_one_ip" not in codes_of(control.id)
    assert "card_shared" not in codes_of(control.id)


def test_card_setups_never_completed_from_one_address(make_campaign, make_pledge):
    campaign = make_campaign(state="live", launched_at=utcnow() - timedelta(days=5))
    for _ in range(5):
        pledge = make_pledge(campaign, state="pending", created_at=utcnow() - timedelta(hours=3))
        pledge.client_ip_hash = "a" * 64
    db.session.commit()
    signals = campaign_signals(campaign.id, utcnow())
    assert signals.max_failed_setups_one_ip == 5 and signals.max_pledges_one_ip == 0
    # while the card forms may still be open, they are not failures yet
    assert campaign_signals(campaign.id, utcnow() - timedelta(hours=2, minutes=30)).max_failed_setups_one_ip == 0


def test_cards_declined_at_pledge_time_from_one_address_count_as_failed_setups(make_campaign, make_pledge):
    from crowdfund.payments.models import ChargeAttempt

    campaign = make_campaign(state="live", funding_model="flexible")
    earlier = utcnow() - timedelta(hours=3)
    for n in range(6):
        pledge = make_pledge(campaign, state="pending", created_at=earlier)
        pledge.client_ip_hash, pledge.stripe_payment_method_id = "b" * 64, f"pm_{n}"
        db.session.add(ChargeAttempt(pledge_id=pledge.id, attempt=1, status="failed" if n < 5 else "succeeded"))
    db.session.commit()
    assert campaign_signals(campaign.id, utcnow()).max_failed_setups_one_ip == 5


def test_silence_and_overdue_milestones_after_funding(make_campaign):
    silent = _funded(make_campaign, ended_days_ago=60)
    talking = _funded(make_campaign, ended_days_ago=60, milestone_days=(20, 60))
    db.session.add(Update(campaign_id=talking.id, author_id=talking.founder_id, title="Progress", body="Going well",
                          created_at=utcnow() - timedelta(days=3)))
    db.session.commit()

    now = utcnow()
    assessed = assess(silent.id, now)
    assess(talking.id, now)
    db.session.commit()

    assert {"silence", "milestones_overdue"} <= set(codes_of(silent.id))
    assert reason_of(silent.id, "milestones_overdue")["detail"] == {"overdue_milestones": 1, "worst_days": 40}
    assert reason_of(silent.id, "silence")["detail"]["days_since_update"] >= 59
    assert assessed.score >= 50 and assessed.first_flagged_at == now
    assert not {"silence", "milestones_overdue"} & set(codes_of(talking.id))


def test_history_points_only_when_the_score_changes_and_the_trend_is_a_week_back(make_campaign):
    campaign = _funded(make_campaign, ended_days_ago=60)
    start = utcnow()
    assess(campaign.id, start - timedelta(days=10))
    db.session.commit()
    first = db.session.get(RiskAssessment, campaign.id).score
    assess(campaign.id, start - timedelta(days=10) + timedelta(seconds=1))  # same score: no new point
    points = db.session.scalar(db.select(db.func.count(RiskHistoryPoint.id)).where(
        RiskHistoryPoint.campaign_id == campaign.id))
    assert points == 1
    db.session.add(Update(campaign_id=campaign.id, author_id=campaign.founder_id, title="News", body="Here",
                          created_at=start - timedelta(hours=1)))
    later = assess(campaign.id, start)
    db.session.commit()
    assert later.score < first  # silence broken
    assert later.previous_score == first
    assert db.session.scalar(db.select(db.func.count(RiskHistoryPoint.id)).where(
        RiskHistoryPoint.campaign_id == campaign.id)) == 2
