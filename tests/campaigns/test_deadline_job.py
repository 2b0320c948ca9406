"""Closing campaigns at their deadline: outcome by funding model, idempotent, safe to run at once."""
import threading
from datetime import datetime, timedelta

import pytest

from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.lifecycle import close_due_campaigns
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.pledges.models import Pledge
from crowdfund.ticker import run_periodic_jobs

from .helpers import fresh

LAUNCHED = datetime(2030, 1, 1, 12, 0)
DEADLINE = LAUNCHED + timedelta(days=30)
AFTER_DEADLINE = DEADLINE + timedelta(minutes=1)


@pytest.fixture
def live_campaign(make_campaign):
    """A live campaign with a goal of 100,000 whose deadline is DEADLINE (unless launched_at says otherwise)."""

    def make(funding_model="all_or_nothing", launched_at=LAUNCHED):
        return make_campaign(state="live", goal=100_000, funding_model=funding_model, launched_at=launched_at,
                             duration_days=30)

    return make


def _state(campaign):
    return fresh(Campaign, campaign.id).state


def _closing_entries(campaign_or_id):
    campaign_id = getattr(campaign_or_id, "id", campaign_or_id)
    db.session.rollback()
    return list(db.session.execute(
        db.select(AuditEntry).where(AuditEntry.campaign_id == campaign_id,
                                    AuditEntry.action.in_(("successful", "failed")))).scalars())


def test_all_or_nothing_campaign_that_met_its_goal_succeeds(live_campaign, make_pledge):
    campaign = live_campaign()
    make_pledge(campaign, amount=60_000)
    make_pledge(campaign, amount=40_000, state="collected")

    counts = close_due_campaigns(AFTER_DEADLINE)
    db.session.commit()

    assert counts == {"successful": 1, "failed": 0}
    after = fresh(Campaign, campaign.id)
    assert (after.state, after.ended_at) == ("successful", AFTER_DEADLINE)
    [entry] = _closing_entries(campaign)
    assert (entry.actor_id, entry.action, entry.details) == (None, "successful", {"pledged": 100_000, "goal": 100_000})


def test_all_or_nothing_campaign_short_of_its_goal_fails_and_voids_open_pledges(live_campaign, make_pledge):
    campaign = live_campaign()
    active = make_pledge(campaign, amount=99_000)
    pending = make_pledge(campaign, amount=500, state="pending")
    withdrawn = make_pledge(campaign, amount=50_000, state="cancelled")

    counts = close_due_campaigns(AFTER_DEADLINE)
    db.session.commit()

    assert counts == {"successful": 0, "failed": 1}
    assert _state(campaign) == "failed"
    assert [fresh(Pledge, p.id).state for p in (active, pending, withdrawn)] == ["void", "void", "cancelled"]
    assert _closing_entries(campaign)[0].details == {"pledged": 99_000, "goal": 100_000}


def test_successful_campaign_keeps_its_pledges(live_campaign, make_pledge):
    campaign = live_campaign()
    pledge = make_pledge(campaign, amount=150_000)

    close_due_campaigns(AFTER_DEADLINE)
    db.session.commit()

    assert fresh(Pledge, pledge.id).state == "active"


@pytest.mark.parametrize("amounts, outcome", [((1,), "successful"), ((), "failed")])
def test_flexible_campaign_succeeds_with_any_pledge(live_campaign, make_pledge, amounts, outcome):
    campaign = live_campaign(funding_model="flexible")
    for amount in amounts:
        make_pledge(campaign, amount=amount, state="collected")

    close_due_campaigns(AFTER_DEADLINE)
    db.session.commit()

    assert _state(campaign) == outcome


def test_campaign_before_its_deadline_is_untouched(live_campaign, make_pledge):
    campaign = live_campaign()
    pledge = make_pledge(campaign, amount=1_000)

    counts = close_due_campaigns(DEADLINE - timedelta(seconds=1))
    db.session.commit()

    assert counts == {"successful": 0, "failed": 0}
    assert _state(campaign) == "live"
    assert fresh(Pledge, pledge.id).state == "active"
    assert _closing_entries(campaign) == []


def test_campaign_closes_at_its_deadline_exactly(live_campaign):
    campaign = live_campaign()

    close_due_campaigns(DEADLINE)
    db.session.commit()

    assert _state(campaign) == "failed"


def test_campaigns_that_are_not_live_are_left_alone(make_campaign):
    others = [make_campaign(state=state, launched_at=LAUNCHED) for state in ("cancelled", "suspended", "approved")]

    counts = close_due_campaigns(AFTER_DEADLINE)
    db.session.commit()

    assert counts == {"successful": 0, "failed": 0}
    assert [_state(c) for c in others] == ["cancelled", "suspended", "approved"]


def test_running_twice_changes_nothing_the_second_time(live_campaign, make_pledge):
    funded, unfunded = live_campaign(), live_campaign()
    make_pledge(funded, amount=100_000)
    ids = [funded.id, unfunded.id]

    first = run_periodic_jobs(AFTER_DEADLINE)
    second = run_periodic_jobs(AFTER_DEADLINE + timedelta(hours=1))

    assert first == {"successful": 1, "failed": 1}
    assert second == {"successful": 0, "failed": 0}
    assert [fresh(Campaign, i).ended_at for i in ids] == [AFTER_DEADLINE, AFTER_DEADLINE]
    assert [len(_closing_entries(i)) for i in ids] == [1, 1]


def test_concurrent_runs_close_each_campaign_exactly_once(app, live_campaign, make_pledge, monkeypatch):
    campaigns = [live_campaign() for _ in range(4)]
    for campaign in campaigns[:2]:
        make_pledge(campaign, amount=100_000)
    ids = [c.id for c in campaigns]
    db.session.rollback()

    # Both runs read the same due campaigns before either closes one, so only the
    # conditional UPDATE can keep them from closing a campaign twice.
    both_have_read = threading.Barrier(2, timeout=20)
    read_totals = lifecycle.pledged_totals

    def totals_after_both_have_read(campaign_ids):
        campaign_ids = list(campaign_ids)
        both_have_read.wait()
        return read_totals(campaign_ids)

    monkeypatch.setattr(lifecycle, "pledged_totals", totals_after_both_have_read)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(run_periodic_jobs(AFTER_DEADLINE))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == 2
    assert sum(r["successful"] for r in results) == 2
    assert sum(r["failed"] for r in results) == 2
    assert [fresh(Campaign, i).state for i in ids] == ["successful", "successful", "failed", "failed"]
    assert [len(_closing_entries(i)) for i in ids] == [1, 1, 1, 1]


# The command line

def test_tick_command_closes_due_campaigns_and_prints_counts(runner, live_campaign, make_pledge):
    funded, unfunded = live_campaign(), live_campaign()
    make_pledge(funded, amount=100_000)
    ids = [funded.id, unfunded.id]

    result = runner.invoke(args=["crowdfund", "tick", "--now", "2099-01-01T00:00"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Closed 1 successful and 1 failed campaign(s)."
    assert [fresh(Campaign, i).state for i in ids] == ["successful", "failed"]


def test_tick_command_without_now_leaves_future_deadlines_alone(runner, live_campaign):
    campaign = live_campaign(launched_at=utcnow())
    campaign_id = campaign.id

    result = runner.invoke(args=["crowdfund", "tick"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Closed 0 successful and 0 failed campaign(s)."
    assert fresh(Campaign, campaign_id).state == "live"


def test_tick_command_reads_a_utc_offset(runner, live_campaign):
    campaign = live_campaign()
    campaign_id = campaign.id
    # 19:59 in Beijing is 11:59 UTC, a minute before the deadline (12:00 UTC).
    beijing_before = (DEADLINE - timedelta(minutes=1)).strftime("%Y-%m-%dT19:59+08:00")

    early = runner.invoke(args=["crowdfund", "tick", "--now", beijing_before])
    state_after_early = fresh(Campaign, campaign_id).state
    on_time = runner.invoke(args=["crowdfund", "tick", "--now", DEADLINE.strftime("%Y-%m-%dT20:00+08:00")])

    assert early.exit_code == on_time.exit_code == 0
    assert state_after_early == "live"
    assert fresh(Campaign, campaign_id).state == "failed"


@pytest.mark.parametrize("now", ["tomorrow", "2099-13-01T00:00", "31/01/2030"])
def test_tick_command_refuses_a_bad_time(runner, live_campaign, now):
    campaign_id = live_campaign().id

    result = runner.invoke(args=["crowdfund", "tick", "--now", now])

    assert result.exit_code == 2
    assert "Invalid value for --now" in result.output
    assert "ISO 8601" in result.output
    assert fresh(Campaign, campaign_id).state == "live"
