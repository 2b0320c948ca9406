"""A founder's FounderFacts from the database: only what happened on the platform (campaigns,
milestones, releases, spend reports, updates, pledges, reports, receipts, account and payout status).
A fixed number of aggregate queries per founder, however many campaigns they ran."""
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
    facts = FounderFacts()
    _identity(facts, user_id, now)
    campaigns = db.session.execute(
        db.select(Campaign.id, Campaign.state, Campaign.currency, Campaign.ended_at, Campaign.launched_at)
        .where(Campaign.founder_id == user_id)).all()
    for row in campaigns:
        facts.campaigns_launched += row.launched_at is not None
        if row.state in OUTCOME_STATES:
            setattr(facts, OUTCOME_STATES[row.state], getattr(facts, OUTCOME_STATES[row.state]) + 1)
    if not facts.campaigns_launched and not has_history(facts):
        return facts  # nothing launched: no pledges, milestones, updates or reports to count
    delivering = {row.id: row for row in campaigns if row.state in DELIVERY_STATES}
    _milestones(facts, user_id, now)
    _money(facts, user_id, {row.id: row.currency for row in campaigns})
    _budget(facts, user_id)
    _updates(facts, user_id, delivering, now)
    _backers(facts, user_id)
    return facts


def _identity(facts: FounderFacts, user_id: int, now: datetime) -> None:
    user = db.session.get(User, user_id)
    if user is None:
        return
    facts.account_age_days = max(0, (now - user.created_at).days)
    facts.email_verified = user.email_verified_at is not None
    account = db.session.execute(db.select(PayoutAccount).where(PayoutAccount.user_id == user_id)).scalar()
    facts.payout_verified = bool(account is not None and account.can_receive_transfers)
    business = db.session.get(BusinessDetails, user_id)
    facts.business_declared = business is not None
    facts.business_checked = business is not None and business.checked_at is not None


def _milestones(facts: FounderFacts, user_id: int, now: datetime) -> None:
    """Milestones of funded campaigns, against their first due date."""
    rows = db.session.execute(
        db.select(Milestone.due_date, Milestone.completed_on).join(Campaign, Campaign.id == Milestone.campaign_id)
        .where(Campaign.founder_id == user_id, Campaign.state.in_(DELIVERY_STATES))).all()
    today = now.date()
    for due, done in rows:
        if done is not None and done <= due:
            facts.milestones_on_time += 1
        elif done is not None:
            facts.milestones_late += 1
            facts.late_days.append((done - due).days)
        elif due < today:
            facts.milestones_overdue += 1
    facts.late_days.sort()


def _money(facts: FounderFacts, user_id: int, currencies: dict[int, str]) -> None:
    """Released (transferred) money per currency, and how much of it spend reports cover, capped
    per campaign at what that campaign released."""
    released = dict(db.session.execute(
        db.select(Release.campaign_id, func.sum(Release.amount)).join(Campaign, Campaign.id == Release.campaign_id)
        .where(Campaign.founder_id == user_id, Release.state == "transferred").group_by(Release.campaign_id)).all())
    if not released:
        return
    spent = dict(db.session.execute(
        db.select(Update.campaign_id, func.sum(SpendReport.amount)).join(Update, Update.id == SpendReport.update_id)
        .where(Update.campaign_id.in_(list(released))).group_by(Update.campaign_id)).all())
    totals: dict[str, int] = defaultdict(int)
    backed: dict[str, int] = defaultdict(int)
    for campaign_id, amount in released.items():
        currency = currencies[campaign_id]
        totals[currency] += int(amount or 0)
        backed[currency] += min(int(spent.get(campaign_id) or 0), int(amount or 0))
    facts.released, facts.released_backed = dict(totals), dict(backed)


def _budget(facts: FounderFacts, user_id: int) -> None:
    """Budget lines of funded campaigns, and whether the spend reported on each stayed within it."""
    spend = (db.select(SpendReport.budget_line_id.label("line_id"), func.sum(SpendReport.amount).label("total"))
             .group_by(SpendReport.budget_line_id).subquery())
    rows = db.session.execute(
        db.select(BudgetLine.amount, spend.c.total).join(Campaign, Campaign.id == BudgetLine.campaign_id)
        .outerjoin(spend, spend.c.line_id == BudgetLine.id)
        .where(Campaign.founder_id == user_id, Campaign.state.in_(DELIVERY_STATES))).all()
    for amount, total in rows:
        facts.budget_lines += 1
        if total:
            if total > amount:
                facts.budget_lines_over += 1
            else:
                facts.budget_lines_under += 1


def _updates(facts: FounderFacts, user_id: int, delivering: dict, now: datetime) -> None:
    """Days between updates after a campaign was funded (from its end, and up to today while
    milestones are open), and update requests answered by an update within ANSWER_DAYS."""
    if delivering:
        posted = defaultdict(list)
        for campaign_id, at in db.session.execute(
                db.select(Update.campaign_id, Update.created_at).where(Update.campaign_id.in_(list(delivering)))
                .order_by(Update.created_at)).all():
            posted[campaign_id].append(at)
        still_open = set(db.session.execute(
            db.select(Milestone.campaign_id).where(Milestone.campaign_id.in_(list(delivering)),
                                                   Milestone.completed_on.is_(None)).distinct()).scalars())
        for campaign_id, row in delivering.items():
            if row.ended_at is None:
                continue
            times = [row.ended_at] + [at for at in posted[campaign_id] if at >= row.ended_at]
            today = datetime.combine(now.date(), time())  # the open silence grows once a day
            if row.state == "successful" and campaign_id in still_open and today > times[-1]:
                times.append(today)
            facts.update_gaps_days += [round((b - a).total_seconds() / 86400, 2) for a, b in zip(times, times[1:])]
        facts.update_gaps_days.sort()
    requests = db.session.execute(
        db.select(UpdateRequest.campaign_id, UpdateRequest.created_at)
        .join(Campaign, Campaign.id == UpdateRequest.campaign_id).where(Campaign.founder_id == user_id)).all()
    facts.update_requests = len(requests)
    if requests:
        times = defaultdict(list)
        for campaign_id, at in db.session.execute(
                db.select(Update.campaign_id, Update.created_at)
                .where(Update.campaign_id.in_({c for c, _at in requests})).order_by(Update.created_at)).all():
            times[campaign_id].append(at)
        facts.update_requests_answered = sum(_answered(times[c], at) for c, at in requests)


def _answered(update_times: list[datetime], asked: datetime) -> bool:
    """An update was posted within ANSWER_DAYS after the request (update_times sorted)."""
    i = bisect_left(update_times, asked)
    return i < len(update_times) and update_times[i] <= asked + timedelta(days=ANSWER_DAYS)


def _backers(facts: FounderFacts, user_id: int) -> None:
    """Pledges collected, refunded (on campaigns still funded: a stopped campaign's refunds count in its
    outcome), disputed; upheld reports; shipped tiers; backers' receipts."""
    mine = Campaign.founder_id == user_id
    collected, disputed = db.session.execute(
        db.select(func.count(Pledge.id).filter(or_(Pledge.collected_at.is_not(None), Pledge.state == "collected")),
                  func.count(Pledge.id).filter(Pledge.disputed.is_(True)))
        .join(Campaign, Campaign.id == Pledge.campaign_id).where(mine)).one()
    facts.pledges_collected, facts.disputes = int(collected), int(disputed)
    facts.refunds = db.session.execute(
        db.select(func.count(func.distinct(LedgerEntry.pledge_id))).join(Campaign, Campaign.id == LedgerEntry.campaign_id)
        .where(mine, Campaign.state == "successful", LedgerEntry.kind == "refund",
               LedgerEntry.pledge_id.is_not(None))).scalar_one()
    facts.reports_upheld = db.session.execute(
        db.select(func.count(CampaignReport.id)).join(Campaign, Campaign.id == CampaignReport.campaign_id)
        .where(mine, CampaignReport.outcome == "upheld")).scalar_one()
    facts.tiers_shipped = db.session.execute(
        db.select(func.count(RewardTier.id)).join(Campaign, Campaign.id == RewardTier.campaign_id)
        .where(mine, RewardTier.shipped_at.is_not(None))).scalar_one()
    receipts = dict(db.session.execute(
        db.select(RewardReceipt.state, func.count(RewardReceipt.id))
        .join(Campaign, Campaign.id == RewardReceipt.campaign_id).where(mine).group_by(RewardReceipt.state)).all())
    facts.receipts_received = int(receipts.get("received", 0))
    facts.receipts_not_received = int(receipts.get("not_received", 0))
