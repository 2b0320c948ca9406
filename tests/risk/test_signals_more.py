"""More signals from real rows: the review rules' category median and budget, the funding burst,
and the delivery rules' spending, releases and spikes — each against an honest control."""
from datetime import timedelta

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import BudgetLine, Milestone
from crowdfund.clock import utcnow
from crowdfund.credit.models import RewardReceipt
from crowdfund.extensions import db
from crowdfund.payments.models import LedgerEntry
from crowdfund.payouts.models import Release
from crowdfund.risk.assessment import assess
from crowdfund.risk.signals import campaign_signals
from crowdfund.updates.models import SpendReport, Update, UpdateRequest

from .helpers import codes_of, funded, reason_of


def test_a_new_account_asking_far_above_the_categorys_median(make_campaign, make_user):
    for goal in (50_000, 80_000, 100_000, 120_000, 150_000):
        make_campaign(state="live", goal=goal)
    newcomer = make_campaign(state="in_review", goal=1_000_000)
    modest = make_campaign(state="in_review", goal=200_000)
    founder = db.session.get(User, newcomer.founder_id)
    now = utcnow()

    assert campaign_signals(newcomer.id, now).category_median_goal == 100_000
    assess(newcomer.id, now)
    assess(modest.id, now)
    db.session.commit()
    assert "new_account_large_goal" in codes_of(newcomer.id)
    assert reason_of(newcomer.id, "new_account_large_goal")["detail"]["ratio"] == 10.0
    assert "new_account_large_goal" not in codes_of(modest.id)
    # the same goal from an account with a history is not flagged
    founder.created_at = now - timedelta(days=400)
    assess(newcomer.id, now)
    db.session.commit()
    assert "new_account_large_goal" not in codes_of(newcomer.id)


def test_no_median_under_five_public_campaigns_in_the_category(make_campaign):
    for goal in (50_000, 80_000, 100_000, 120_000):
        make_campaign(state="live", goal=goal)
    make_campaign(state="draft", goal=90_000)  # not public: not compared
    newcomer = make_campaign(state="in_review", goal=1_000_000)
    assert campaign_signals(newcomer.id, utcnow()).category_median_goal is None


def test_budget_that_does_not_fit_the_goal(make_campaign):
    campaign = make_campaign(state="in_review", goal=100_000)
    honest = make_campaign(state="in_review", goal=100_000)  # the factory's lines add up to the goal
    db.session.execute(db.delete(BudgetLine).where(BudgetLine.campaign_id == campaign.id))
    db.session.add_all([BudgetLine(campaign_id=campaign.id, purpose="Everything", amount=30_000)])
    db.session.commit()
    now = utcnow()
    assess(campaign.id, now)
    assess(honest.id, now)
    db.session.commit()
    assert reason_of(campaign.id, "budget_mismatch")["detail"]["budget_total"] == 30_000
    assert not {"budget_mismatch", "budget_dominant_line"} & set(codes_of(honest.id))


def test_a_burst_of_pledges_far_above_the_campaigns_own_rate(make_campaign, make_pledge):
    now = utcnow()
    burst = make_campaign(state="live", launched_at=now - timedelta(days=10))
    steady = make_campaign(state="live", launched_at=now - timedelta(days=10))
    for day in range(2, 10):
        make_pledge(burst, created_at=now - timedelta(days=day))
        for _ in range(3):
            make_pledge(steady, created_at=now - timedelta(days=day, hours=_))
    for n in range(25):
        make_pledge(burst, created_at=now - timedelta(minutes=10 + n))
    for n in range(4):
        make_pledge(steady, created_at=now - timedelta(minutes=10 + n))

    signals = campaign_signals(burst.id, now)
    assert signals.pledges_last_24h == 25 and 0.8 < signals.daily_pledge_rate < 0.9
    assess(burst.id, now)
    assess(steady.id, now)
    db.session.commit()
    assert "pledge_burst" in codes_of(burst.id)
    assert "pledge_burst" not in codes_of(steady.id)


def _line(campaign, purpose):
    return db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == campaign.id,
                                                          BudgetLine.purpose == purpose)).scalar_one()


def _spend(campaign, line, amount, at):
    update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, title="Spending", body="Receipts",
                    created_at=at)
    db.session.add(update)
    db.session.flush()
    db.session.add(SpendReport(update_id=update.id, budget_line_id=line.id, amount=amount))
    db.session.commit()


def test_spending_over_a_budget_line(make_campaign):
    over = funded(make_campaign, ended_days_ago=5, milestone_days=(30,))
    within = funded(make_campaign, ended_days_ago=5, milestone_days=(30,))
    now = utcnow()
    oven = _line(over, "Oven")  # 75 000
    _spend(over, oven, 60_000, now - timedelta(days=2))
    _spend(over, oven, 25_000, now - timedelta(days=1))
    _spend(within, _line(within, "Oven"), 70_000, now - timedelta(days=1))
    assess(over.id, now)
    assess(within.id, now)
    db.session.commit()
    assert reason_of(over.id, "over_budget")["detail"] == {"lines": [["Oven", 10_000]], "total_over": 10_000}
    assert "over_budget" not in codes_of(within.id)


def _release(campaign, tranche, at, state="transferred", milestone_id=None):
    db.session.add(Release(campaign_id=campaign.id, tranche=tranche, milestone_id=milestone_id, state=state,
                           requested_at=at))
    db.session.commit()


def test_a_release_requested_without_a_spend_report_since_the_last_one(make_campaign):
    now = utcnow()
    silent = funded(make_campaign, ended_days_ago=20, milestone_days=(30,))
    reporting = funded(make_campaign, ended_days_ago=20, milestone_days=(30,))
    for campaign in (silent, reporting):
        milestone = db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)).scalar_one()
        _release(campaign, "first", now - timedelta(days=20))
        _release(campaign, f"milestone-{milestone.id}", now - timedelta(hours=1), "requested", milestone.id)
    _spend(reporting, _line(reporting, "Oven"), 40_000, now - timedelta(days=3))

    assess(silent.id, now)
    assess(reporting.id, now)
    db.session.commit()
    assert "release_without_spend_report" in codes_of(silent.id)
    assert "release_without_spend_report" not in codes_of(reporting.id)


def test_spikes_of_update_requests_and_of_refunds_and_missing_rewards(make_campaign, make_pledge, make_user):
    now = utcnow()
    spiking = funded(make_campaign, ended_days_ago=20, milestone_days=(30,))
    calm = funded(make_campaign, ended_days_ago=20, milestone_days=(30,))
    for n in range(5):
        backer = make_user()
        pledge = make_pledge(spiking, backer=backer, state="collected")
        db.session.add(UpdateRequest(campaign_id=spiking.id, user_id=backer.id, created_at=now - timedelta(days=2)))
        if n < 3:
            db.session.add(LedgerEntry(campaign_id=spiking.id, pledge_id=pledge.id, kind="refund", amount=-pledge.amount,
                                       currency="USD", created_at=now - timedelta(days=1)))
        else:
            db.session.add(RewardReceipt(pledge_id=pledge.id, campaign_id=spiking.id, state="not_received",
                                         marked_at=now - timedelta(days=1)))
        old = make_pledge(calm, state="collected")  # long ago: outside the 7 days
        db.session.add(LedgerEntry(campaign_id=calm.id, pledge_id=old.id, kind="refund", amount=-old.amount,
                                   currency="USD", created_at=now - timedelta(days=30)))
    db.session.commit()

    assess(spiking.id, now)
    assess(calm.id, now)
    db.session.commit()
    assert reason_of(spiking.id, "update_request_spike")["detail"]["update_requests_7d"] == 5
    assert reason_of(spiking.id, "refund_spike")["detail"]["refund_requests_7d"] == 5
    assert not {"update_request_spike", "refund_spike"} & set(codes_of(calm.id))


def _lines(campaign, *amounts):
    db.session.execute(db.delete(BudgetLine).where(BudgetLine.campaign_id == campaign.id))
    db.session.add_all([BudgetLine(campaign_id=campaign.id, purpose=f"Cost {i}", amount=amount)
                        for i, amount in enumerate(amounts)])
    db.session.commit()


def test_a_budget_line_far_larger_than_the_categorys_usual_share(make_campaign):
    # five public campaigns whose largest line is 40 % of the budget; others that do not count
    for _ in range(5):
        _lines(make_campaign(state="live"), 40_000, 30_000, 30_000)
    _lines(make_campaign(state="draft"), 40_000, 30_000, 30_000)  # not public
    _lines(make_campaign(state="live", currency="EUR"), 95_000, 5_000)  # another currency
    lopsided = make_campaign(state="in_review")  # the factory's budget: 75 % oven, 25 % installation
    spread = make_campaign(state="in_review")
    _lines(spread, 45_000, 30_000, 25_000)
    now = utcnow()

    assert sorted(campaign_signals(lopsided.id, now).category_line_shares) == [0.4] * 5
    assess(lopsided.id, now)
    assess(spread.id, now)
    db.session.commit()
    detail = reason_of(lopsided.id, "budget_unusual_for_category")["detail"]
    assert detail == {"share": 0.75, "category_p90": 0.4, "category_campaigns": 5, "threshold": 0.5}
    assert reason_of(lopsided.id, "budget_unusual_for_category")["points"] == 15
    assert "budget_unusual_for_category" not in codes_of(spread.id)


def test_no_budget_comparison_under_five_public_campaigns_in_the_category(make_campaign):
    for _ in range(4):
        _lines(make_campaign(state="live"), 40_000, 30_000, 30_000)
    lopsided = make_campaign(state="in_review")
    assert len(campaign_signals(lopsided.id, utcnow()).category_line_shares) == 4
    assess(lopsided.id, utcnow())
    db.session.commit()
    assert "budget_unusual_for_category" not in codes_of(lopsided.id)
