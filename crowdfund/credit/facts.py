"""Founders' FounderFacts from the database: only what happened on the platform (campaigns,
milestones, releases, spend reports, updates, pledges, reports, receipts, account and payout status).
facts_for() gathers a whole batch of founders with a fixed number of grouped queries (GROUP BY
founder), however many founders and campaigns; founder_facts() is the same for one founder."""
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import func, or_

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import BudgetLine, Campaign, Milestone, RewardTier
from crowdfund.credit.engine import ANSWER_DAYS, FounderFacts, has_history
from crowdfund.credit.models import BusinessDetails, RewardReceipt
from crowdfund.extensions import db
from crowdfund.moderation.models import CampaignReport
from crowdfund.payments.models import LedgerEntry
from crowdfund.payouts.models import PayoutAccount, Release
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import SpendReport, Update, UpdateRequest

OUTCOME_STATES = {"successful": "campaigns_funded", "failed": "campaigns_failed",
                  "cancelled": "campaigns_cancelled", "abandoned": "campaigns_abandoned",
                  "suspended": "campaigns_suspended"}
# Campaigns that collected money and owe delivery (abandoned ones did, then stopped delivering).
DELIVERY_STATES = ("successful", "abandoned")


def founder_facts(user_id: int, now: datetime) -> FounderFacts:
    """Every number of the founder's scorecard as of now (reads only)."""
    return facts_for([user_id], now)[user_id]


def facts_for(user_ids: list[int], now: datetime) -> dict[int, FounderFacts]:
    """Every number of each founder's scorecard as of now, by founder id (reads only)."""
    ids = sorted(set(user_ids))
    facts = {user_id: FounderFacts() for user_id in ids}
    if not ids:
        return facts
    _identity(facts, ids, now)
    campaigns = db.session.execute(
        db.select(Campaign.id, Campaign.founder_id, Campaign.state, Campaign.currency, Campaign.ended_at,
                  Campaign.launched_at).where(Campaign.founder_id.in_(ids))).all()
    for row in campaigns:
        f = facts[row.founder_id]
        f.campaigns_launched += row.launched_at is not None
        if row.state in OUTCOME_STATES:
            setattr(f, OUTCOME_STATES[row.state], getattr(f, OUTCOME_STATES[row.state]) + 1)
    # Nothing launched: no pledges, milestones, updates or reports to count.
    active = [i for i in ids if facts[i].campaigns_launched or has_history(facts[i])]
    if active:
        _milestones(facts, active, now)
        _money(facts, active, {row.id: row for row in campaigns})
        _budget(facts, active)
        _updates(facts, active, [row for row in campaigns if row.state in DELIVERY_STATES], now)
        _backers(facts, active)
    return facts


def _identity(facts: dict[int, FounderFacts], ids: list[int], now: datetime) -> None:
    for user_id, created_at, verified_at in db.session.execute(
            db.select(User.id, User.created_at, User.email_verified_at).where(User.id.in_(ids))).all():
        facts[user_id].account_age_days = max(0, (now - created_at).days)
        facts[user_id].email_verified = verified_at is not None
    for user_id, submitted, active in db.session.execute(
            db.select(PayoutAccount.user_id, PayoutAccount.details_submitted, PayoutAccount.transfers_active)
            .where(PayoutAccount.user_id.in_(ids))).all():
        facts[user_id].payout_verified = bool(submitted and active)
    for user_id, checked_at in db.session.execute(
            db.select(BusinessDetails.user_id, BusinessDetails.checked_at)
            .where(BusinessDetails.user_id.in_(ids))).all():
        facts[user_id].business_declared = True
        facts[user_id].business_checked = checked_at is not None


def _milestones(facts: dict[int, FounderFacts], ids: list[int], now: datetime) -> None:
    """Milestones of funded campaigns, against their first due date."""
    rows = db.session.execute(
        db.select(Campaign.founder_id, Milestone.due_date, Milestone.completed_on)
        .join(Campaign, Campaign.id == Milestone.campaign_id)
        .where(Campaign.founder_id.in_(ids), Campaign.state.in_(DELIVERY_STATES))).all()
    today = now.date()
    for founder_id, due, done in rows:
        f = facts[founder_id]
        if done is not None and done <= due:
            f.milestones_on_time += 1
        elif done is not None:
            f.milestones_late += 1
            f.late_days.append((done - due).days)
        elif due < today:
            f.milestones_overdue += 1
            f.overdue_days.append((today - due).days)
    for founder_id in ids:
        facts[founder_id].late_days.sort()
        facts[founder_id].overdue_days.sort(reverse=True)


def _money(facts: dict[int, FounderFacts], ids: list[int], campaigns: dict) -> None:
    """Released (transferred) money per currency, and how much of it spend reports account for, capped
    per campaign at what that campaign released."""
    released = dict(db.session.execute(
        db.select(Release.campaign_id, func.sum(Release.amount)).join(Campaign, Campaign.id == Release.campaign_id)
        .where(Campaign.founder_id.in_(ids), Release.state == "transferred").group_by(Release.campaign_id)).all())
    if not released:
        return
    spent = dict(db.session.execute(
        db.select(Update.campaign_id, func.sum(SpendReport.amount)).join(Update, Update.id == SpendReport.update_id)
        .join(Campaign, Campaign.id == Update.campaign_id).where(Campaign.founder_id.in_(ids))
        .group_by(Update.campaign_id)).all())
    for campaign_id, amount in sorted(released.items()):
        row = campaigns[campaign_id]
        f = facts[row.founder_id]
        f.released[row.currency] = f.released.get(row.currency, 0) + int(amount or 0)
        f.released_backed[row.currency] = (f.released_backed.get(row.currency, 0)
                                           + min(int(spent.get(campaign_id) or 0), int(amount or 0)))


def _budget(facts: dict[int, FounderFacts], ids: list[int]) -> None:
    """Budget lines of funded campaigns, and whether the spend reported on each stayed within it."""
    spend = (db.select(SpendReport.budget_line_id.label("line_id"), func.sum(SpendReport.amount).label("total"))
             .group_by(SpendReport.budget_line_id).subquery())
    rows = db.session.execute(
        db.select(Campaign.founder_id, BudgetLine.amount, spend.c.total)
        .join(Campaign, Campaign.id == BudgetLine.campaign_id)
        .outerjoin(spend, spend.c.line_id == BudgetLine.id)
        .where(Campaign.founder_id.in_(ids), Campaign.state.in_(DELIVERY_STATES))).all()
    for founder_id, amount, total in rows:
        f = facts[founder_id]
        f.budget_lines += 1
        if total:
            if total > amount:
                f.budget_lines_over += 1
            else:
                f.budget_lines_under += 1


def _update_times(ids: list[int]) -> dict[int, list[datetime]]:
    """Each campaign's update times, oldest first, for the founders' campaigns."""
    times = defaultdict(list)
    for campaign_id, at in db.session.execute(
            db.select(Update.campaign_id, Update.created_at).join(Campaign, Campaign.id == Update.campaign_id)
            .where(Campaign.founder_id.in_(ids)).order_by(Update.campaign_id, Update.created_at)).all():
        times[campaign_id].append(at)
    return times


def _updates(facts: dict[int, FounderFacts], ids: list[int], delivering: list, now: datetime) -> None:
    """Days between updates after a campaign was funded (from its end, and up to today while
    milestones are open), the current silence of a funded campaign with open milestones, and update
    requests answered by an update within ANSWER_DAYS."""
    requests = db.session.execute(
        db.select(Campaign.founder_id, UpdateRequest.campaign_id, UpdateRequest.created_at)
        .join(Campaign, Campaign.id == UpdateRequest.campaign_id).where(Campaign.founder_id.in_(ids))).all()
    if not delivering and not requests:
        return
    posted = _update_times(ids)
    if delivering:
        still_open = set(db.session.execute(
            db.select(Milestone.campaign_id).join(Campaign, Campaign.id == Milestone.campaign_id)
            .where(Campaign.founder_id.in_(ids), Campaign.state.in_(DELIVERY_STATES),
                   Milestone.completed_on.is_(None)).distinct()).scalars())
        today = datetime.combine(now.date(), time())  # the open silence grows once a day
        for row in delivering:
            if row.ended_at is None:
                continue
            f = facts[row.founder_id]
            times = [row.ended_at] + [at for at in posted[row.id] if at >= row.ended_at]
            if row.state == "successful" and row.id in still_open and today > times[-1]:
                f.silence_days = max(f.silence_days, _days_between(times[-1], today))
                times.append(today)
            f.update_gaps_days += [_days_between(a, b) for a, b in zip(times, times[1:])]
        for founder_id in ids:
            facts[founder_id].update_gaps_days.sort()
    for founder_id, campaign_id, at in requests:
        facts[founder_id].update_requests += 1
        facts[founder_id].update_requests_answered += _answered(posted[campaign_id], at)


def _days_between(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 86400, 2)


def _answered(update_times: list[datetime], asked: datetime) -> bool:
    """An update was posted within ANSWER_DAYS after the request (update_times sorted)."""
    i = bisect_left(update_times, asked)
    return i < len(update_times) and update_times[i] <= asked + timedelta(days=ANSWER_DAYS)


def _count_by_founder(model, *where) -> dict[int, int]:
    """{founder id: number of the model's rows} over rows joined to their campaign."""
    return {founder_id: int(n) for founder_id, n in db.session.execute(
        db.select(Campaign.founder_id, func.count(model.id)).join(Campaign, Campaign.id == model.campaign_id)
        .where(*where).group_by(Campaign.founder_id)).all()}


def _backers(facts: dict[int, FounderFacts], ids: list[int]) -> None:
    """Pledges collected, refunded (on campaigns still funded: a stopped campaign's refunds count in its
    outcome), disputed; upheld reports; shipped tiers; backers' receipts."""
    mine = Campaign.founder_id.in_(ids)
    for founder_id, collected, disputed in db.session.execute(
            db.select(Campaign.founder_id,
                      func.count(Pledge.id).filter(or_(Pledge.collected_at.is_not(None), Pledge.state == "collected")),
                      func.count(Pledge.id).filter(Pledge.disputed.is_(True)))
            .join(Campaign, Campaign.id == Pledge.campaign_id).where(mine).group_by(Campaign.founder_id)).all():
        facts[founder_id].pledges_collected, facts[founder_id].disputes = int(collected), int(disputed)
    for founder_id, n in db.session.execute(
            db.select(Campaign.founder_id, func.count(func.distinct(LedgerEntry.pledge_id)))
            .join(Campaign, Campaign.id == LedgerEntry.campaign_id)
            .where(mine, Campaign.state == "successful", LedgerEntry.kind == "refund",
                   LedgerEntry.pledge_id.is_not(None)).group_by(Campaign.founder_id)).all():
        facts[founder_id].refunds = int(n)
    for founder_id, n in _count_by_founder(CampaignReport, mine, CampaignReport.outcome == "upheld").items():
        facts[founder_id].reports_upheld = n
    for founder_id, n in _count_by_founder(RewardTier, mine, RewardTier.shipped_at.is_not(None)).items():
        facts[founder_id].tiers_shipped = n
    for founder_id, state, n in db.session.execute(
            db.select(Campaign.founder_id, RewardReceipt.state, func.count(RewardReceipt.id))
            .join(Campaign, Campaign.id == RewardReceipt.campaign_id).where(mine)
            .group_by(Campaign.founder_id, RewardReceipt.state)).all():
        if state == "received":
            facts[founder_id].receipts_received = int(n)
        elif state == "not_received":
            facts[founder_id].receipts_not_received = int(n)
