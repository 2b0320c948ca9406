"""CampaignSignals from the database: every number the risk rules (crowdfund/risk/rules.py) judge a
campaign by. Reads only, except the fingerprints it keeps current (story signature, missing image
hashes), which it flushes."""
from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import func

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import PUBLIC_STATES, BudgetLine, Campaign, Milestone
from crowdfund.credit.models import RewardReceipt
from crowdfund.extensions import db
from crowdfund.moderation.models import CampaignReport
from crowdfund.payments.models import ChargeAttempt, LedgerEntry
from crowdfund.payouts.accounts import can_receive_transfers
from crowdfund.payouts.models import Release
from crowdfund.pledges.models import Pledge
from crowdfund.risk import fingerprints
from crowdfund.risk.models import RiskAssessment, StorySignature
from crowdfund.risk.rules import CampaignSignals, RiskSettings
from crowdfund.updates.models import SpendReport, Update, UpdateRequest

REVIEW_STATES = ("draft", "in_review", "changes_requested", "approved", "rejected")
MIN_CATEGORY_CAMPAIGNS = 5  # fewer public campaigns in the category: no median to compare with
WINDOW = timedelta(days=7)  # the spikes' window
SETUP_GRACE = timedelta(hours=1)  # a card setup younger than this may still be under way
# Pledges whose card was saved at some point (the backer finished the card form).
CARDED_STATES = ("active", "collected", "errored", "dropped")


def phase_of(state: str) -> str:
    if state in REVIEW_STATES:
        return "review"
    return {"live": "funding", "successful": "delivery"}.get(state, "closed")


def campaign_signals(campaign_id: int, now: datetime, settings: RiskSettings | None = None) -> CampaignSignals:
    """The campaign's signals as of now. Keeps its story signature current (flushes)."""
    settings = settings or RiskSettings()
    campaign = db.session.get(Campaign, campaign_id)
    signals = CampaignSignals(phase=phase_of(campaign.state))
    _review(signals, campaign, now, settings)
    if signals.phase != "review":
        _funding(signals, campaign, now)
    if signals.phase in ("delivery", "closed"):
        _delivery(signals, campaign, now)
    return signals


# review ------------------------------------------------------------------------------------------

def category_median_goal(campaign: Campaign) -> int | None:
    """The median goal of the other public campaigns in the campaign's category (None under 5)."""
    if campaign.category_id is None:
        return None
    goals = db.session.execute(db.select(Campaign.goal).where(
        Campaign.category_id == campaign.category_id, Campaign.id != campaign.id,
        Campaign.state.in_(PUBLIC_STATES), Campaign.currency == campaign.currency)).scalars().all()
    return int(median(goals)) if len(goals) >= MIN_CATEGORY_CAMPAIGNS else None


def category_line_shares(campaign: Campaign) -> list[float]:
    """For each other public campaign of the category (same currency) with budget lines: its largest
    line's share of its budget total. One query."""
    if campaign.category_id is None:
        return []
    rows = db.session.execute(
        db.select(func.max(BudgetLine.amount), func.sum(BudgetLine.amount))
        .join(Campaign, Campaign.id == BudgetLine.campaign_id)
        .where(Campaign.category_id == campaign.category_id, Campaign.id != campaign.id,
               Campaign.state.in_(PUBLIC_STATES), Campaign.currency == campaign.currency)
        .group_by(BudgetLine.campaign_id)).all()
    return [int(largest) / int(total) for largest, total in rows if total and int(total) > 0]


def _matches_found_in_review(s: CampaignSignals, campaign: Campaign) -> None:
    """After review the story and images can no longer change: the matches found then stand (a later
    copy is caught at its own review), so the comparisons are not run again every day. A campaign
    that never had a signature (older than the risk review) gets one, for later submissions to find."""
    if db.session.get(StorySignature, campaign.id) is None:
        fingerprints.store_story_signature(campaign)
    assessment = db.session.get(RiskAssessment, campaign.id)
    for reason in (assessment.reasons or []) if assessment is not None else []:
        matches = [tuple(m) for m in (reason.get("detail") or {}).get("matches", [])]
        if reason.get("code") == "duplicate_story":
            s.duplicate_stories = matches
        elif reason.get("code") == "matching_images":
            s.matching_images = matches


def _review(s: CampaignSignals, campaign: Campaign, now: datetime, settings: RiskSettings) -> None:
    founder = db.session.get(User, campaign.founder_id)
    s.account_age_days = max(0, (now - founder.created_at).days)
    s.goal = campaign.goal or 0
    s.category_median_goal = category_median_goal(campaign)
    s.payout_verified = can_receive_transfers(campaign.founder_id)
    if s.phase == "review":
        fingerprints.store_story_signature(campaign)
        s.duplicate_stories = fingerprints.duplicate_stories(campaign, minimum=settings.duplicate_similarity)
        s.matching_images = fingerprints.matching_images(campaign, maximum=settings.image_distance)
    else:
        _matches_found_in_review(s, campaign)
    total, largest = db.session.execute(
        db.select(func.coalesce(func.sum(BudgetLine.amount), 0), func.coalesce(func.max(BudgetLine.amount), 0))
        .where(BudgetLine.campaign_id == campaign.id)).one()
    s.budget_total, s.budget_max_line = int(total), int(largest)
    s.category_line_shares = category_line_shares(campaign) if s.budget_total > 0 else []


# funding -----------------------------------------------------------------------------------------

def _largest_group(*conditions, column, counted) -> int:
    """The largest number of `counted` among the campaign's pledges sharing one value of column."""
    sub = (db.select(func.count(counted).label("n")).where(column.is_not(None), *conditions)
           .group_by(column).subquery())
    return int(db.session.execute(db.select(func.coalesce(func.max(sub.c.n), 0))).scalar_one())


def _founder_pledged(campaign: Campaign) -> bool:
    """The founder has a pledge on the campaign, or one of its pledges used a card the founder used."""
    own = db.session.execute(db.select(Pledge.id).where(
        Pledge.campaign_id == campaign.id, Pledge.backer_id == campaign.founder_id,
        Pledge.state.not_in(("cancelled", "void"))).limit(1)).first()
    if own is not None:
        return True
    founder_cards = db.select(Pledge.card_fingerprint).where(
        Pledge.backer_id == campaign.founder_id, Pledge.card_fingerprint.is_not(None))
    return db.session.execute(db.select(Pledge.id).where(
        Pledge.campaign_id == campaign.id, Pledge.state.not_in(("cancelled", "void")),
        Pledge.card_fingerprint.in_(founder_cards)).limit(1)).first() is not None


def _funding(s: CampaignSignals, campaign: Campaign, now: datetime) -> None:
    mine = Pledge.campaign_id == campaign.id
    s.max_pledges_one_ip = _largest_group(mine, Pledge.state.in_(CARDED_STATES),
                                          column=Pledge.client_ip_hash, counted=Pledge.id)
    # never completed: no card ever saved, or (flexible) every card declined at pledge time
    declined = db.select(ChargeAttempt.id).where(ChargeAttempt.pledge_id == Pledge.id,
                                                 ChargeAttempt.status == "failed").exists()
    s.max_failed_setups_one_ip = _largest_group(
        mine, Pledge.state.in_(("pending", "cancelled")), Pledge.created_at < now - SETUP_GRACE,
        db.or_(Pledge.stripe_payment_method_id.is_(None), declined),
        column=Pledge.client_ip_hash, counted=Pledge.id)
    s.max_backers_one_card = _largest_group(mine, column=Pledge.card_fingerprint,
                                            counted=db.distinct(Pledge.backer_id))
    s.founder_pledged = _founder_pledged(campaign)
    day_ago = now - timedelta(days=1)
    s.pledges_last_24h = db.session.execute(db.select(func.count(Pledge.id)).where(
        mine, Pledge.created_at > day_ago, Pledge.created_at <= now)).scalar_one()
    if campaign.launched_at is not None:
        s.funding_days = max(0.0, (min(now, campaign.deadline or now) - campaign.launched_at).total_seconds() / 86400)
        before_days = (day_ago - campaign.launched_at).total_seconds() / 86400
        if before_days > 0:
            before = db.session.execute(db.select(func.count(Pledge.id)).where(
                mine, Pledge.created_at <= day_ago)).scalar_one()
            s.daily_pledge_rate = before / before_days


# delivery ----------------------------------------------------------------------------------------

def _silence(s: CampaignSignals, campaign: Campaign, now: datetime) -> None:
    """Days since the latest update, counted from the end of funding at the earliest."""
    latest = db.session.execute(db.select(func.max(Update.created_at)).where(
        Update.campaign_id == campaign.id)).scalar_one()
    starts = [t for t in (latest, campaign.ended_at or campaign.deadline) if t is not None]
    if starts:
        s.days_since_update = max(0.0, (now - max(starts)).total_seconds() / 86400)


def _milestones(s: CampaignSignals, campaign: Campaign, now: datetime) -> None:
    today = now.date()
    milestones = db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)).scalars().all()
    open_ones = [m for m in milestones if m.status != "completed"]
    s.open_milestones = len(open_ones)
    s.overdue_days = [(today - m.expected_date).days for m in open_ones if m.expected_date < today]


def _spending(s: CampaignSignals, campaign: Campaign) -> None:
    spent = db.session.execute(
        db.select(BudgetLine.purpose, BudgetLine.amount, func.sum(SpendReport.amount))
        .join(SpendReport, SpendReport.budget_line_id == BudgetLine.id)
        .where(BudgetLine.campaign_id == campaign.id)
        .group_by(BudgetLine.id, BudgetLine.purpose, BudgetLine.amount)).all()
    s.over_budget_lines = [(purpose, int(total) - amount) for purpose, amount, total in spent if total > amount]


def _release_without_report(campaign: Campaign) -> bool:
    """A release waits for a moderator with no spend report filed since the release before it."""
    releases = db.session.execute(db.select(Release).where(
        Release.campaign_id == campaign.id, Release.state.not_in(("rejected", "failed")))
        .order_by(Release.requested_at, Release.id)).scalars().all()
    for previous, release in zip(releases, releases[1:]):
        if release.state != "requested":
            continue
        reported = db.session.execute(
            db.select(SpendReport.id).join(Update, Update.id == SpendReport.update_id)
            .where(Update.campaign_id == campaign.id, Update.created_at > previous.requested_at).limit(1)).first()
        if reported is None:
            return True
    return False


def _spikes(s: CampaignSignals, campaign: Campaign, now: datetime) -> None:
    since = now - WINDOW
    s.update_requests_7d = db.session.execute(db.select(func.count(db.distinct(UpdateRequest.user_id))).where(
        UpdateRequest.campaign_id == campaign.id, UpdateRequest.created_at > since)).scalar_one()
    s.reports_7d = db.session.execute(db.select(func.count(CampaignReport.id)).where(
        CampaignReport.campaign_id == campaign.id, CampaignReport.created_at > since)).scalar_one()
    money_back = db.session.execute(db.select(func.count(db.distinct(LedgerEntry.pledge_id))).where(
        LedgerEntry.campaign_id == campaign.id, LedgerEntry.kind.in_(("refund", "dispute")),
        LedgerEntry.created_at > since)).scalar_one()
    not_received = db.session.execute(db.select(func.count(RewardReceipt.id)).where(
        RewardReceipt.campaign_id == campaign.id, RewardReceipt.state == "not_received",
        RewardReceipt.marked_at > since)).scalar_one()
    s.refund_requests_7d = money_back + not_received


def _delivery(s: CampaignSignals, campaign: Campaign, now: datetime) -> None:
    _silence(s, campaign, now)
    _milestones(s, campaign, now)
    _spending(s, campaign)
    s.release_without_spend_report = _release_without_report(campaign)
    _spikes(s, campaign, now)
