"""The emails each domain event sends (notifications/handlers.py): who gets one, with what subject
and what in it; delivered twice, an event emails nobody twice."""
from datetime import timedelta

import pytest
from sqlalchemy import update

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.outbox import OutboxEvent, dispatch_due, emit
from crowdfund.pledges.models import Pledge

from .conftest import html_of, text_of


def happen(kind: str, **payload) -> None:
    """The event, written and committed as a service and its caller would: delivered at once (inline)."""
    emit(kind, **payload)
    db.session.commit()


def deliver_again() -> None:
    db.session.execute(update(OutboxEvent).values(delivered_at=None, available_at=utcnow()))
    db.session.commit()
    dispatch_due()


@pytest.fixture
def pledge(make_campaign, make_user, make_pledge):
    campaign = make_campaign(state="live", title="Second oven")
    backer = make_user(email="bea@example.com", display_name="Bea")
    return make_pledge(campaign, backer=backer, amount=5000)


def test_a_saved_card_gets_the_pledge_receipt(pledge, outbox):
    happen("pledge.completed", pledge_id=pledge.id)

    (message,) = outbox
    assert (message["To"], message["Subject"]) == ("bea@example.com", "Your pledge to Second oven")
    text = text_of(message)
    assert "Thank you for backing “Second oven”." in text
    assert "$50.00" in text and "You will be charged only if the campaign reaches its goal" in text
    assert f"http://127.0.0.1:5000/pledges/{pledge.id}" in text


def test_a_collected_pledge_gets_a_receipt_for_the_amount_charged(pledge, outbox):
    happen("pledge.collected", pledge_id=pledge.id, amount=4500)

    (message,) = outbox
    assert message["Subject"] == "Receipt: your pledge to Second oven was charged"
    assert "your pledge to Second oven was charged $45.00." in text_of(message)
    assert "$45.00" in html_of(message)


def test_a_failed_charge_asks_for_a_new_card_with_the_fix_link_and_deadline(pledge, outbox):
    deadline = utcnow().replace(microsecond=0) + timedelta(days=7)
    db.session.execute(update(Pledge).where(Pledge.id == pledge.id).values(
        state="errored", fix_deadline=deadline, last_error="card_declined"))
    db.session.commit()

    happen("pledge.charge_failed", pledge_id=pledge.id, reminder=False)
    happen("pledge.charge_failed", pledge_id=pledge.id, reminder=True)

    first, reminder = outbox
    assert first["Subject"] == "Action needed: your pledge to Second oven"
    assert reminder["Subject"] == "Reminder: your pledge to Second oven still needs a card"
    text = text_of(first)
    assert "Your card was declined. Open this link to pay with another card:" in text
    assert f"http://127.0.0.1:5000/pledges/{pledge.id}/fix" in text
    assert deadline.strftime("%-d %b %Y, %H:%M") + " UTC" in text
    assert "A reminder: your pledge of $50.00 to Second oven has still not been paid." in text_of(reminder)


def test_a_charge_that_needs_the_bank_asks_the_backer_to_confirm_it(pledge, outbox):
    db.session.execute(update(Pledge).where(Pledge.id == pledge.id).values(
        state="errored", fix_deadline=utcnow() + timedelta(days=7), last_error="authentication_required"))
    db.session.commit()

    happen("pledge.charge_failed", pledge_id=pledge.id, reminder=False)

    assert "Your bank asks you to confirm the payment." in text_of(outbox[0])


def test_dropped_and_unfunded_pledges_are_told_nothing_was_charged(pledge, outbox):
    happen("pledge.dropped", pledge_id=pledge.id)
    happen("pledge.not_funded", pledge_id=pledge.id)

    dropped, not_funded = outbox
    assert dropped["Subject"] == "Your pledge to Second oven was dropped"
    assert "We could not collect your pledge of $50.00 to Second oven" in text_of(dropped)
    assert not_funded["Subject"] == "Second oven did not reach its goal: nothing was charged"
    assert "your pledge of $50.00 was not charged" in text_of(not_funded)


def test_each_refund_is_its_own_email_with_its_amount_and_reason(pledge, outbox):
    happen("pledge.refunded", pledge_id=pledge.id, amount=1000, reason="The oven came cheaper.")
    happen("pledge.refunded", pledge_id=pledge.id, amount=500, reason="Shipping was not needed.")
    deliver_again()

    first, second = outbox
    assert (first["To"], first["Subject"]) == ("bea@example.com", "Refund from Second oven")
    assert "We have refunded $10.00 of your pledge to “Second oven”." in text_of(first)
    assert "Reason: The oven came cheaper." in text_of(first)
    assert "We have refunded $5.00" in text_of(second)


def test_a_dispute_is_told_to_every_moderator_and_admin_and_nobody_else(pledge, make_user, outbox):
    moderator = make_user(role="moderator")
    admin = make_user(role="admin")

    happen("pledge.disputed", pledge_id=pledge.id, dispute_id="dp_1", amount=5000, reason="fraudulent")
    deliver_again()

    assert sorted(m["To"] for m in outbox) == sorted([moderator.email, admin.email])
    assert {m["Subject"] for m in outbox} == {"Payment disputed on Second oven"}
    text = text_of(outbox[0])
    assert f"#{pledge.id}" in text and "$50.00" in text and "fraudulent" in text
    assert f"http://127.0.0.1:5000/moderation/campaigns/{pledge.campaign_id}" in text


def test_an_abandoned_campaign_tells_each_backer_their_share(make_campaign, make_user, make_pledge, outbox):
    campaign = make_campaign(state="successful", title="Second oven")
    bea, cal = make_user(display_name="Bea"), make_user(display_name="Cal")
    first = make_pledge(campaign, backer=bea, amount=6000, state="collected")
    second = make_pledge(campaign, backer=cal, amount=3000, state="collected")

    happen("campaign.abandoned", campaign_id=campaign.id, reason="No oven after a year.",
           shares={str(first.id): 4000, str(second.id): 0})
    deliver_again()

    by_backer = {m["To"]: text_of(m) for m in outbox}
    assert sorted(by_backer) == sorted([bea.email, cal.email])
    assert {m["Subject"] for m in outbox} == {"“Second oven” was abandoned: your refund"}
    assert "Your share is $40.00" in by_backer[bea.email]
    assert "there is nothing left to refund" in by_backer[cal.email]
    assert "Reason: No oven after a year." in by_backer[bea.email]


def test_an_event_about_a_pledge_that_is_gone_sends_nothing_and_is_done(outbox):
    happen("pledge.collected", pledge_id=999_999, amount=100)

    assert outbox == []
    assert db.session.execute(db.select(OutboxEvent.delivered_at)).scalar_one() is not None
