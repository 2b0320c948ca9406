"""Update emails: every backer once, through a real SMTP server, in batches; backers-only text only
to backers; followers get public updates; preferences and failed sends."""
import secrets
from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Milestone
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.notifications import services
from crowdfund.notifications.models import EmailDelivery, Follow
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import Update

from .conftest import html_of, text_of


@pytest.fixture
def batch_runs(monkeypatch):
    """(user ids) of every batch sent (services.send_batch), in order."""
    runs = []
    send_batch = services.send_batch

    def record(kind, target_id, user_ids):
        runs.append(list(user_ids))
        return send_batch(kind, target_id, user_ids)

    monkeypatch.setattr(services, "send_batch", record)
    return runs


def bulk_backers(campaign, n, state="active"):
    """n users with a pledge each, inserted in two statements; returns their emails."""
    tag = secrets.token_hex(4)
    now = utcnow()
    emails = [f"backer{i}-{tag}@example.com" for i in range(n)]
    db.session.execute(insert(User), [
        {"email": email, "display_name": f"Backer {i}", "password_hash": "x", "role": "backer",
         "login_id": secrets.token_urlsafe(24), "created_at": now} for i, email in enumerate(emails)])
    ids = db.session.execute(db.select(User.id).where(User.email.in_(emails))).scalars().all()
    db.session.execute(insert(Pledge), [
        {"campaign_id": campaign.id, "backer_id": user_id, "amount": 2500, "state": state, "created_at": now,
         "updated_at": now} for user_id in ids])
    db.session.commit()
    return set(emails)


def add_update(campaign, visibility="public", title="Oven ordered", body="We **ordered** the oven.", **values):
    update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, title=title, body=body,
                    visibility=visibility, **values)
    db.session.add(update)
    db.session.commit()
    return update


def test_an_update_to_1000_backers_goes_out_through_smtp_in_batches_and_only_once(
        app, smtp_inbox, make_campaign, batch_runs):
    app.config["NOTIFY_BATCH_SIZE"] = 100
    campaign = make_campaign(state="live")
    emails = bulk_backers(campaign, 1000)
    update = add_update(campaign)

    services.notify("update", update.id)

    assert [len(run) for run in batch_runs] == [100] * 10
    assert len({user_id for run in batch_runs for user_id in run}) == 1000
    received = smtp_inbox.messages
    assert len(received) == 1000
    assert {to for rcpt, _ in received for to in rcpt} == emails
    _, message = received[0]
    assert message["Subject"] == f"{campaign.title}: Oven ordered"
    assert "We **ordered** the oven." in text_of(message)
    assert "<strong>ordered</strong>" in html_of(message)
    assert message["List-Unsubscribe"].startswith("<http")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert b"\nList-Unsubscribe: <http://" in smtp_inbox.raw[0]  # as sent, not RFC 2047-encoded
    assert db.session.execute(db.select(db.func.count(EmailDelivery.id))
                              .where(EmailDelivery.sent_at.is_not(None))).scalar_one() == 1000

    # The whole event again, and one batch again: nobody gets a second email.
    batch_runs.clear()
    assert services.notify("update", update.id) == 0
    assert batch_runs == []
    first_batch = db.session.execute(db.select(User.id).join(Pledge, Pledge.backer_id == User.id)
                                     .order_by(User.id).limit(100)).scalars().all()
    assert services.send_batch("update", update.id, first_batch) == 0
    assert len(smtp_inbox.messages) == 1000


def test_the_founder_posting_backers_only_text_reaches_backers_only(
        founder, founder_client, make_campaign, make_user, make_pledge, outbox):
    campaign = make_campaign(founder=founder, state="live")
    backer = make_user(display_name="Bea Backer")
    make_pledge(campaign, backer=backer)
    quiet_backer = make_user()
    quiet_backer.email_updates = False
    make_pledge(campaign, backer=quiet_backer)
    cancelled = make_user()
    make_pledge(campaign, backer=cancelled, state="cancelled")
    follower = make_user(display_name="Finn Follower")
    db.session.add(Follow(user_id=follower.id, campaign_id=campaign.id))
    db.session.add(Follow(user_id=cancelled.id, campaign_id=campaign.id))
    db.session.commit()

    response = founder_client.post(f"/c/{campaign.slug}/updates/new", data={
        "title": "Only for you", "body": "The secret recipe is rye.", "visibility": "backers"})
    assert response.status_code == 302

    assert [m["To"] for m in outbox] == [backer.email]
    assert "The secret recipe is rye." in text_of(outbox[0])
    assert "for backers of" in text_of(outbox[0])
    outbox.clear()

    founder_client.post(f"/c/{campaign.slug}/updates/new", data={
        "title": "Open day", "body": "Come and see the oven.", "visibility": "public"})

    assert sorted(m["To"] for m in outbox) == sorted([backer.email, follower.email, cancelled.email])
    assert all("The secret recipe" not in text_of(m) + html_of(m) for m in outbox)
    # A follower's unsubscribe link turns off follow emails, a backer's turns off update emails.
    links = {m["To"]: m["List-Unsubscribe"].strip("<>") for m in outbox}
    assert services.read_unsubscribe_token(links[follower.email].rsplit("/", 1)[1])[1] == "follows"
    assert services.read_unsubscribe_token(links[backer.email].rsplit("/", 1)[1])[1] == "updates"


def test_followers_with_follow_emails_off_and_the_founder_are_not_emailed(
        founder, make_campaign, make_user, outbox):
    campaign = make_campaign(founder=founder, state="live")
    quiet = make_user()
    quiet.email_follows = False
    db.session.add(Follow(user_id=quiet.id, campaign_id=campaign.id))
    db.session.commit()

    services.notify("update", add_update(campaign).id)

    assert outbox == []


def test_a_milestone_report_is_in_the_update_email(make_campaign, make_pledge, outbox):
    campaign = make_campaign(state="live")
    pledge = make_pledge(campaign)
    milestone = db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)
                                   .order_by(Milestone.due_date)).scalars().first()
    update = add_update(campaign, visibility="backers", title="A delay", body="The oven ships later.",
                        milestone_id=milestone.id, milestone_status="delayed",
                        milestone_new_date=date.today() + timedelta(days=120),
                        milestone_note="The factory closed for a month.")

    services.notify("update", update.id)

    (message,) = outbox
    text = text_of(message)
    assert "Milestone report: Oven installed is delayed." in text
    assert "The factory closed for a month." in text
    assert "Milestone report" in html_of(message)
    assert db.session.get(User, pledge.backer_id).email == message["To"]


def test_a_failed_send_gives_back_its_claim_and_a_retry_sends_only_the_rest(
        app, make_campaign, make_pledge, make_user, outbox, monkeypatch):
    campaign = make_campaign(state="live")
    backers = [make_user() for _ in range(4)]
    for backer in backers:
        make_pledge(campaign, backer=backer)
    update = add_update(campaign)
    ids = sorted(b.id for b in backers)
    real_sender = services.mail_sender
    calls = []

    from contextlib import contextmanager

    @contextmanager
    def flaky_sender():
        with real_sender() as send:
            def maybe_send(message):
                calls.append(message["To"])
                if len(calls) == 3:
                    raise ConnectionRefusedError("mail server down")
                send(message)
            yield maybe_send

    monkeypatch.setattr(services, "mail_sender", flaky_sender)
    with pytest.raises(ConnectionRefusedError):
        services.send_batch("update", update.id, ids)
    assert len(outbox) == 2
    assert db.session.execute(db.select(db.func.count(EmailDelivery.id))).scalar_one() == 2

    monkeypatch.setattr(services, "mail_sender", real_sender)
    assert services.send_batch("update", update.id, ids) == 2
    assert sorted(m["To"] for m in outbox) == sorted(b.email for b in backers)
