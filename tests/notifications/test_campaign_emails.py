"""Emails about a campaign's life: the result to its backers, the launch and the "48 hours left"
reminder to followers — each once per person."""
from datetime import timedelta

from sqlalchemy import func

from crowdfund.accounts.models import User
from crowdfund.campaigns.lifecycle import close_due_campaigns
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.notifications.models import EmailDelivery, Follow
from crowdfund.outbox import OutboxEvent, dispatch_due
from crowdfund.ticker import run_periodic_jobs

from .conftest import html_of, text_of


def follow(user, campaign):
    db.session.add(Follow(user_id=user.id, campaign_id=campaign.id))
    db.session.commit()


def test_followers_get_one_reminder_48_hours_before_the_deadline_however_often_the_job_runs(
        make_campaign, make_user, make_pledge, outbox):
    launched = utcnow() - timedelta(days=10)
    campaign = make_campaign(state="live", duration_days=20, launched_at=launched)  # deadline in 10 days
    follower, backer_follower, quiet = make_user(), make_user(), make_user()
    quiet.email_follows = False
    for user in (follower, backer_follower, quiet):
        follow(user, campaign)
    make_pledge(campaign, backer=backer_follower)
    deadline = launched + timedelta(days=20)
    follower_email, slug = follower.email, campaign.slug  # the job ends the session

    run_periodic_jobs(deadline - timedelta(hours=49))
    assert outbox == []

    run_periodic_jobs(deadline - timedelta(hours=47))
    run_periodic_jobs(deadline - timedelta(hours=46))
    run_periodic_jobs(deadline - timedelta(hours=2))

    (message,) = outbox
    assert message["To"] == follower_email
    assert "48 hours left to back" in message["Subject"]
    assert slug in text_of(message) and slug in html_of(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_backers_hear_whether_the_campaign_reached_its_goal(make_campaign, make_user, make_pledge, outbox):
    ended = utcnow() - timedelta(days=31)
    funded = make_campaign(state="live", goal=10_000, launched_at=ended)
    missed = make_campaign(state="live", goal=10_000, launched_at=ended)
    winner, gone, loser, quiet = make_user(), make_user(), make_user(), make_user()
    quiet.email_updates = False
    make_pledge(funded, backer=winner, amount=12_000)
    make_pledge(funded, backer=gone, state="cancelled")
    make_pledge(funded, backer=quiet)
    make_pledge(missed, backer=loser, amount=3_000)

    close_due_campaigns(utcnow())
    db.session.commit()
    close_due_campaigns(utcnow())  # nothing left to close: nothing sent again
    db.session.commit()

    by_recipient = {m["To"]: m for m in outbox}
    assert sorted(by_recipient) == sorted([winner.email, loser.email])
    assert "reached its goal" in by_recipient[winner.email]["Subject"]
    assert "did not reach its goal" in by_recipient[loser.email]["Subject"]
    assert "Nobody is charged." in text_of(by_recipient[loser.email])
    assert db.session.execute(db.select(db.func.count(EmailDelivery.id))).scalar_one() == 2


def test_people_following_a_founders_campaign_hear_when_the_founder_launches_another(
        founder, founder_client, make_campaign, make_user, outbox):
    earlier = make_campaign(founder=founder, state="successful")
    fan, stranger = make_user(), make_user()
    follow(fan, earlier)
    follow(stranger, make_campaign(state="live"))
    upcoming = make_campaign(founder=founder, state="approved")

    response = founder_client.post(f"/c/{upcoming.slug}/launch")
    assert response.status_code in (302, 303)
    assert db.session.get(Campaign, upcoming.id).state == "live"

    (message,) = outbox
    assert message["To"] == fan.email
    assert upcoming.title in message["Subject"] and "Fay Baker" in message["Subject"]


def test_while_the_mail_server_is_down_the_reminder_waits_as_one_event_and_reaches_each_follower_once(
        make_campaign, make_user, smtp_down):
    launched = utcnow() - timedelta(days=10)
    campaign = make_campaign(state="live", duration_days=20, launched_at=launched)
    followers = sorted(make_user().email for _ in range(2))
    for email in followers:
        follow(db.session.execute(db.select(User).where(User.email == email)).scalar_one(), campaign)
    deadline = launched + timedelta(days=20)

    run_periodic_jobs(deadline - timedelta(hours=47))  # emitted; sending fails
    run_periodic_jobs(deadline - timedelta(hours=46))  # the event waits (backoff): no second one

    events = db.session.execute(db.select(OutboxEvent).where(OutboxEvent.kind == "campaign.ending_soon")).scalars()
    assert [(event.attempts, event.delivered_at) for event in events] == [(1, None)]

    inbox = smtp_down.come_back()
    assert dispatch_due(utcnow() + timedelta(minutes=2)) == 1  # the sweep once the backoff has passed
    run_periodic_jobs(deadline - timedelta(hours=44))

    assert sorted(inbox.recipients()) == followers
    assert db.session.execute(db.select(func.count(OutboxEvent.id))).scalar_one() == 1
