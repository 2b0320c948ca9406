"""The moderators' daily risk digest: one email per moderator per UTC day listing the campaigns at or
above the hold threshold (new since yesterday first, with links), none when nothing is flagged."""
import pytest
from datetime import datetime, timedelta

from crowdfund.extensions import db
from crowdfund.risk import holds, jobs
from risk.hold_support import NO_SPEND, OVERDUE, SILENCE, flag

pytestmark = pytest.mark.sqlite_only

MORNING = datetime(2026, 12, 3, 6, 0)


def text(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def test_digest_once_a_day_per_moderator(make_user, make_campaign, outbox):
    first, second = make_user(role="moderator"), make_user(role="admin")
    make_user()  # a backer gets nothing
    campaign = make_campaign(state="successful", title="Silent bakery")
    flag(campaign, SILENCE, OVERDUE, now=MORNING - timedelta(minutes=5))  # assessed today: not again
    jobs.run_daily(MORNING)  # the periodic job's daily part sends it
    db.session.commit()
    digests = [m for m in outbox if m["Subject"].startswith("Risk digest")]
    assert sorted(m["To"] for m in digests) == sorted([first.email, second.email])
    body = text(digests[0])
    assert "Silent bakery" in body and "score 55" in body and "No updates for a long time" in body
    assert f"/moderation/risk/{campaign.id}" in body and "releases held" in body

    assert holds.send_digest_if_due(MORNING + timedelta(hours=5)) is False  # later the same day: nothing
    db.session.commit()
    assert len([m for m in outbox if m["Subject"].startswith("Risk digest")]) == 2
    assert holds.send_digest_if_due(MORNING + timedelta(days=1)) is True  # the next day: again
    db.session.commit()
    assert len([m for m in outbox if m["Subject"].startswith("Risk digest")]) == 4


def test_no_digest_when_nothing_is_at_the_threshold(make_user, make_campaign, outbox):
    make_user(role="moderator")
    flag(make_campaign(state="successful"), NO_SPEND, now=MORNING)  # 20: under 50
    assert holds.send_digest_if_due(MORNING) is False
    db.session.commit()
    assert [m for m in outbox if m["Subject"].startswith("Risk digest")] == []


def test_new_since_yesterday_first(make_user, make_campaign, outbox):
    make_user(role="moderator")
    old = make_campaign(state="successful", title="Long flagged bakery")
    new = make_campaign(state="successful", title="Newly flagged bakery")
    flag(old, SILENCE, OVERDUE, NO_SPEND, now=MORNING,
         history=[(MORNING - timedelta(days=5), 55), (MORNING, 75)])  # at 55 yesterday already
    flag(new, SILENCE, OVERDUE, now=MORNING, history=[(MORNING - timedelta(days=5), 30), (MORNING, 55)])
    items = holds.digest(MORNING + timedelta(hours=1))
    assert [(i.title, i.new) for i in items] == [("Newly flagged bakery", True), ("Long flagged bakery", False)]
    holds.send_digest_if_due(MORNING + timedelta(hours=1))
    db.session.commit()
    body = text(outbox[-1])
    assert body.index("[new] Newly flagged bakery") < body.index("Long flagged bakery")


def test_the_digest_also_tells_founders_of_held_campaigns(make_user, make_campaign, founder, outbox):
    make_user(role="moderator")
    flag(make_campaign(state="successful", founder=founder), SILENCE, OVERDUE, now=MORNING)
    holds.send_digest_if_due(MORNING)
    db.session.commit()
    holds.send_digest_if_due(MORNING + timedelta(days=1))
    db.session.commit()
    assert len([m for m in outbox if m["To"] == founder.email]) == 1  # once per hold, not per day
