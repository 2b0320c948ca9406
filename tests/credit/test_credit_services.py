"""Facts gathered from the database, profiles stored with their history, `credit rebuild` and
`credit show`, the daily job and the outbox observers' coalescing (crowdfund/credit)."""
import time
from datetime import timedelta

import pytest

from crowdfund.campaigns.models import BudgetLine, Milestone, RewardTier
from crowdfund.clock import utcnow
from crowdfund.credit import reactions
from crowdfund.credit.engine import overdue_points
from crowdfund.credit.facts import founder_facts
from crowdfund.credit.jobs import run_daily
from crowdfund.credit.models import BusinessDetails, CreditHistoryPoint, CreditProfile, RewardReceipt
from crowdfund.credit.services import compute, profile_of, rebuild_all, recompute_profile, stored_factors
from crowdfund.extensions import db
from crowdfund.moderation.models import CampaignReport
from crowdfund.outbox import emit
from crowdfund.payments import ledger
from crowdfund.payouts.models import PayoutAccount, Release
from crowdfund.updates.models import SpendReport, Update, UpdateRequest


def history(user_id):
    return db.session.execute(db.select(CreditHistoryPoint.score).where(CreditHistoryPoint.user_id == user_id)
                              .order_by(CreditHistoryPoint.id)).scalars().all()


def milestones(campaign):
    return db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)
                              .order_by(Milestone.id)).scalars().all()


def tier_of(campaign):
    return db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == campaign.id)).scalars().first()


def ended(campaign, days_ago):
    campaign.ended_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return campaign


@pytest.fixture
def record(founder, make_campaign, make_pledge, make_user):
    """A founder with a funded campaign that has a record of every kind, plus a failed and a cancelled one."""
    now = utcnow()
    funded = ended(make_campaign(founder=founder, state="successful"), 100)
    make_campaign(founder=founder, state="failed")
    make_campaign(founder=founder, state="cancelled")
    make_campaign(founder=founder, state="draft")
    first, second = milestones(funded)
    first.due_date, first.completed_on = (now - timedelta(days=60)).date(), (now - timedelta(days=50)).date()
    second.due_date = (now - timedelta(days=5)).date()  # overdue
    oven, installation = db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == funded.id)
                                            .order_by(BudgetLine.id)).scalars()
    pledges = [make_pledge(funded, state="collected") for _ in range(4)]
    pledges[0].disputed = True
    ledger.book(funded.id, "refund", 1000, funded.currency, pledges[1].id, "re_1")
    db.session.add(Release(campaign_id=funded.id, tranche="first", state="transferred", amount=20_000))
    db.session.add(Release(campaign_id=funded.id, tranche="m1", state="approved", amount=50_000))
    for days, spend in ((90, [(oven, oven.amount + 1)]), (70, [(installation, 5_000)]), (40, [])):
        update = Update(campaign_id=funded.id, author_id=founder.id, title="News", body="…",
                        created_at=now - timedelta(days=days))
        update.spend_reports = [SpendReport(budget_line_id=line.id, amount=amount) for line, amount in spend]
        db.session.add(update)
    backer = make_user()
    db.session.add_all([
        UpdateRequest(campaign_id=funded.id, user_id=backer.id, created_at=now - timedelta(days=80)),  # answered
        UpdateRequest(campaign_id=funded.id, user_id=backer.id, created_at=now - timedelta(days=30)),  # not
        CampaignReport(campaign_id=funded.id, reporter_id=backer.id, reason="x", outcome="upheld"),
        CampaignReport(campaign_id=funded.id, reporter_id=backer.id, reason="y", outcome="dismissed"),
        RewardReceipt(pledge_id=pledges[2].id, campaign_id=funded.id, state="received"),
        RewardReceipt(pledge_id=pledges[3].id, campaign_id=funded.id, state="not_received"),
        PayoutAccount(user_id=founder.id, stripe_account_id="acct_x", details_submitted=True, transfers_active=True),
        BusinessDetails(user_id=founder.id, name="Fay's Bakery", checked_at=now),
    ])
    tier_of(funded).shipped_at = now
    founder.created_at = now - timedelta(days=400)
    db.session.commit()
    return funded


def test_facts_count_what_the_founder_did(founder, record):
    facts = founder_facts(founder.id, utcnow())
    assert (facts.campaigns_launched, facts.campaigns_funded, facts.campaigns_failed, facts.campaigns_cancelled) \
        == (3, 1, 1, 1)
    assert (facts.email_verified, facts.payout_verified, facts.business_declared, facts.business_checked) \
        == (True, True, True, True)
    assert facts.account_age_days == 400
    assert (facts.milestones_on_time, facts.milestones_late, facts.late_days, facts.milestones_overdue) \
        == (0, 1, [10], 1)
    assert facts.released == {"USD": 20_000}  # transferred only
    assert facts.released_backed == {"USD": 20_000}  # spend reported (more) caps at what was released
    assert (facts.budget_lines, facts.budget_lines_over, facts.budget_lines_under) == (2, 1, 1)
    # updates at -90, -70, -40 after the end at -100, and the silence up to today's midnight (a
    # milestone is open)
    assert facts.update_gaps_days[:3] == [10, 20, 30] and 39 <= facts.update_gaps_days[3] <= 40
    assert (facts.update_requests, facts.update_requests_answered) == (2, 1)
    assert (facts.pledges_collected, facts.refunds, facts.disputes, facts.reports_upheld) == (4, 1, 1, 1)
    assert (facts.tiers_shipped, facts.receipts_received, facts.receipts_not_received) == (1, 1, 1)


def test_facts_take_a_fixed_number_of_queries(founder, record, make_campaign, count_queries):
    with count_queries() as few:
        founder_facts(founder.id, utcnow())
    for _ in range(3):
        ended(make_campaign(founder=founder, state="successful"), 20)
    with count_queries() as more:
        founder_facts(founder.id, utcnow())
    assert len(more) == len(few)


def test_a_new_founder_has_no_history_yet_not_zero(founder, make_campaign):
    make_campaign(founder=founder, state="live")
    profile = recompute_profile(founder.id, utcnow())
    db.session.commit()
    assert profile.score is None and profile.band == "new"
    assert history(founder.id) == [None]
    assert profile_of(founder.id).score is None


def test_profile_of_a_founder_without_a_stored_profile_is_computed_and_not_stored(founder, record):
    profile = profile_of(founder.id)
    assert profile.score == compute(founder.id, utcnow())[1].score is not None
    db.session.commit()
    assert db.session.get(CreditProfile, founder.id) is None


def test_history_grows_only_when_the_score_changes(founder, record, make_pledge):
    recompute_profile(founder.id, utcnow())
    recompute_profile(founder.id, utcnow())
    db.session.commit()
    first = db.session.get(CreditProfile, founder.id).score
    assert history(founder.id) == [first]
    milestones(record)[1].completed_on = utcnow().date()  # the overdue milestone is done now (late)
    db.session.commit()
    profile = recompute_profile(founder.id, utcnow())
    db.session.commit()
    assert profile.score != first
    assert history(founder.id) == [first, profile.score]


def test_stored_profile_has_every_factor_and_fact(founder, record):
    profile = recompute_profile(founder.id, utcnow())
    facts, card = compute(founder.id, utcnow())
    assert profile.factors == stored_factors(card)
    assert profile.facts == facts.as_dict()
    assert {f["code"] for f in profile.factors} >= {"email_verified", "milestones", "receipts"}


def test_rebuild_through_the_cli_is_idempotent(founder, record, runner, make_user, make_campaign):
    make_campaign(founder=make_user(), state="live")
    first = runner.invoke(args=["crowdfund", "credit", "rebuild"])
    assert first.exit_code == 0, first.output
    assert "2 profiles, 2 changed" in first.output
    points = db.session.execute(db.select(db.func.count(CreditHistoryPoint.id))).scalar_one()
    stored = db.session.get(CreditProfile, founder.id)
    before = (stored.score, stored.factors, stored.facts, stored.computed_at)
    db.session.expire_all()
    second = runner.invoke(args=["crowdfund", "credit", "rebuild"])
    assert "2 profiles, 0 changed" in second.output
    assert db.session.execute(db.select(db.func.count(CreditHistoryPoint.id))).scalar_one() == points == 2
    stored = db.session.get(CreditProfile, founder.id)
    assert (stored.score, stored.factors, stored.facts, stored.computed_at) == before


def test_rebuild_keeps_history_and_adds_a_point_for_a_changed_score(founder, record):
    rebuild_all(utcnow())
    db.session.commit()
    old = history(founder.id)
    db.session.execute(db.update(PayoutAccount).values(transfers_active=False))
    db.session.commit()
    assert rebuild_all(utcnow()) == (1, 1)
    db.session.commit()
    assert history(founder.id) == old + [old[-1] - 40]


def test_show_prints_the_scorecard(founder, record, runner):
    result = runner.invoke(args=["crowdfund", "credit", "show", founder.email.upper()])
    assert result.exit_code == 0, result.output
    score = compute(founder.id, utcnow())[1].score
    assert f"{score} — " in result.output
    assert "Payout account verified" in result.output and "1 funded, 1 failed, 1 cancelled" in result.output
    by_id = runner.invoke(args=["crowdfund", "credit", "show", str(founder.id)])
    assert by_id.output == result.output
    missing = runner.invoke(args=["crowdfund", "credit", "show", "nobody@example.com"])
    assert missing.exit_code != 0 and "No user" in missing.output


def test_run_daily_once_a_day_and_writes_nothing_when_idle(founder, record, make_campaign, make_user,
                                                          count_queries):
    other = make_user()
    make_campaign(founder=other, state="live")
    now = utcnow()
    recompute_profile(founder.id, now - timedelta(days=1))  # yesterday's profile
    db.session.commit()
    run_daily(now)
    db.session.commit()
    assert db.session.get(CreditProfile, founder.id).computed_at == now
    assert db.session.get(CreditProfile, other.id) is None  # never made by the job (events, rebuild do)
    with count_queries() as statements:
        run_daily(now + timedelta(hours=1))
        assert not db.session.dirty and not db.session.new
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    tomorrow = now + timedelta(days=1)
    run_daily(tomorrow)
    db.session.commit()
    assert db.session.get(CreditProfile, founder.id).computed_at == tomorrow
    assert db.session.get(CreditProfile, founder.id).facts["account_age_days"] == 401


def test_an_idle_periodic_run_commits_nothing_of_credit(founder, record, count_queries):
    from crowdfund.ticker import run_periodic_jobs

    recompute_profile(founder.id, utcnow())
    db.session.commit()
    with count_queries() as statements:
        run_periodic_jobs()
    assert not [s for s in statements if "credit" in s.lower() and
                s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_run_daily_notices_a_milestone_becoming_overdue(founder, record):
    milestones(record)[1].due_date = (utcnow() + timedelta(days=1)).date()
    db.session.commit()
    profile = recompute_profile(founder.id, utcnow())
    db.session.commit()
    assert profile.facts["milestones_overdue"] == 0
    score, before = profile.score, {f["code"]: f["points"] for f in profile.factors}
    run_daily(utcnow() + timedelta(days=3))
    db.session.commit()
    profile = db.session.get(CreditProfile, founder.id)
    assert profile.facts["milestones_overdue"] == 1
    assert profile.facts["overdue_days"] == [2]
    points = {f["code"]: f["points"] for f in profile.factors}
    assert points["milestones"] == before["milestones"] + overdue_points(2) == before["milestones"] - 32
    assert profile.score < score - 30  # (and the open silence grew by three days)
    assert history(founder.id) == [score, profile.score]


def test_an_event_recomputes_the_founder_after_commit(founder, record):
    emit("tier.shipped", campaign_id=record.id, tier_id=tier_of(record).id)
    db.session.commit()  # inline dispatch in tests
    db.session.expire_all()
    profile = db.session.get(CreditProfile, founder.id)
    assert profile is not None and profile.score == compute(founder.id, utcnow())[1].score


def _timed(monkeypatch, name, spent):
    real = getattr(reactions, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)
    monkeypatch.setattr(reactions, name, timed)


def test_events_of_one_founder_are_coalesced(founder, record, make_pledge, monkeypatch):
    """30 pledge.collected events of one campaign delivered together cost one recompute (the
    last); the others each pay for a look at the waiting events instead. Prints the time spent."""
    recomputes, looks = [], []
    _timed(monkeypatch, "recompute_profile", recomputes)
    _timed(monkeypatch, "later_event_waits", looks)
    pledges = [make_pledge(record, state="collected") for _ in range(30)]
    for pledge in pledges:
        emit("pledge.collected", pledge_id=pledge.id, amount=pledge.amount)
    db.session.commit()  # inline dispatch
    assert len(recomputes) == 1 and len(looks) == 30
    db.session.expire_all()
    assert db.session.get(CreditProfile, founder.id).facts["pledges_collected"] == 34
    coalesced = sum(recomputes) + sum(looks)

    recomputes.clear()
    monkeypatch.setattr(reactions, "later_event_waits", lambda *a: False)
    for pledge in pledges:
        emit("pledge.collected", pledge_id=pledge.id, amount=pledge.amount)
    db.session.commit()
    assert len(recomputes) == 30
    print(f"\n30 events: coalesced {coalesced * 1000:.0f} ms in the observer, "
          f"one recompute each {sum(recomputes) * 1000:.0f} ms")


def test_no_coalescing_across_founders(founder, record, make_campaign, make_user, make_pledge, monkeypatch):
    other = make_campaign(founder=make_user(), state="successful")
    emit("pledge.collected", pledge_id=make_pledge(record, state="collected").id, amount=1)
    emit("pledge.collected", pledge_id=make_pledge(other, state="collected").id, amount=1)
    db.session.commit()
    assert db.session.get(CreditProfile, founder.id) is not None
    assert db.session.get(CreditProfile, other.founder_id) is not None


def test_an_event_about_nothing_known_is_ignored(founder):
    emit("pledge.collected", pledge_id=999_999, amount=1)
    emit("business.declared", user_id=founder.id)
    db.session.commit()
    assert db.session.execute(db.select(db.func.count(CreditProfile.user_id))).scalar_one() == 1


def test_a_later_event_that_failed_before_is_not_relied_on(founder, record, make_pledge):
    first = emit("pledge.collected", pledge_id=make_pledge(record, state="collected").id, amount=1)
    later = emit("pledge.collected", pledge_id=make_pledge(record, state="collected").id, amount=1)
    db.session.flush()
    assert reactions.later_event_waits(founder.id, first.id)
    later.last_error = "SMTPError: down"
    db.session.flush()
    assert not reactions.later_event_waits(founder.id, first.id)
    db.session.rollback()


def test_every_payload_shape_finds_its_founder(founder, record, make_pledge, make_user):
    update_id = db.session.execute(db.select(Update.id).where(Update.campaign_id == record.id)).scalars().first()
    release_id = db.session.execute(db.select(Release.id).where(Release.campaign_id == record.id)).scalars().first()
    pledge_id = make_pledge(record).id
    someone = make_user()
    payloads = [{"campaign_id": record.id}, {"pledge_id": pledge_id}, {"update_id": update_id},
                {"release_id": release_id}, {"user_id": founder.id},
                {"campaign_id": record.id, "user_id": someone.id},  # a campaign's event names its founder
                {"pledge_id": 999_999}, {}]
    assert reactions.founders_of(payloads) == [founder.id] * 6 + [None, None]


def test_rebuild_re_stores_a_round_one_profile_as_numbers_without_a_history_point(founder, record):
    profile = recompute_profile(founder.id, utcnow())
    db.session.commit()
    numbers = list(profile.factors)
    profile.factors = [{"code": f["code"], "points": f["points"], "max_points": f["max_points"], "value": "text"}
                       for f in numbers]  # the shape round 1 stored
    db.session.commit()

    assert rebuild_all(utcnow()) == (1, 1)
    db.session.commit()

    db.session.expire_all()
    profile = db.session.get(CreditProfile, founder.id)
    assert profile.factors == numbers and all("value" not in f for f in profile.factors)
    assert history(founder.id) == [profile.score]
