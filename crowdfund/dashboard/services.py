"""The founder's dashboard: funding by day, pledges by tier and by state, the backer list and its
CSV export. Read-only; every function runs a fixed number of grouped queries, whatever the number
of pledges. Amounts are integers in the campaign currency's minor units throughout."""
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.orm import joinedload

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import RewardTier
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db
from crowdfund.money import amount_input
from crowdfund.pledges.models import COUNTING_STATES, STATES, Pledge

# The backer list and the export show every pledge a backer completed: "pending" ones (the card was
# never entered, or a flexible charge was declined) are not pledges yet and are left out.
LISTED_STATES = tuple(state for state in STATES if state != "pending")
# Pledges that count toward no total, shown next to the settlement figures.
NOT_COUNTED_STATES = ("cancelled", "void")


# --- Funding over time --------------------------------------------------------------------------

@dataclass(frozen=True)
class Day:
    day: date
    count: int        # counting pledges made that day
    amount: int       # their amount
    cumulative: int   # pledged from launch up to and including that day


def chart_days(campaign, today: date) -> tuple[date, date, date] | None:
    """(first day, last day with data, last day of the axis) of the funding chart, in UTC days:
    from launch to the deadline, with data up to today (or the day the campaign ended, if
    earlier). None before launch."""
    if campaign.launched_at is None:
        return None
    start = campaign.launched_at.date()
    axis_end = campaign.deadline.date() if campaign.deadline else today
    data_end = min(axis_end, today)
    if campaign.ended_at is not None:
        data_end = min(data_end, campaign.ended_at.date())
    data_end = max(data_end, start)
    return start, data_end, max(axis_end, data_end)


def funding_by_day(campaign, today: date) -> list[Day]:
    """One Day per calendar day (UTC) from launch to the chart's last data day, in one grouped query.
    A pledge counts on the day it was made if it counts now (active, collected, errored), so the
    last day's cumulative amount is the campaign's pledged total. A pledge made outside the range
    (none should be) is booked on the nearest end, so nothing is lost from the total."""
    days = chart_days(campaign, today)
    if days is None:
        return []
    start, end, _axis_end = days
    day_expr = func.date(Pledge.created_at)
    rows = db.session.execute(
        db.select(day_expr, func.count(Pledge.id), func.coalesce(func.sum(Pledge.amount), 0))
        .where(Pledge.campaign_id == campaign.id, Pledge.state.in_(COUNTING_STATES))
        .group_by(day_expr)).all()
    per_day: dict[date, tuple[int, int]] = {}
    for value, count, amount in rows:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])  # SQLite gives text
        day = min(max(day, start), end)
        old_count, old_amount = per_day.get(day, (0, 0))
        per_day[day] = (old_count + int(count), old_amount + int(amount))
    result, cumulative = [], 0
    for offset in range((end - start).days + 1):
        day = date.fromordinal(start.toordinal() + offset)
        count, amount = per_day.get(day, (0, 0))
        cumulative += amount
        result.append(Day(day, count, amount, cumulative))
    return result


# --- Pledges by tier ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TierRow:
    tier: RewardTier | None  # None: pledges without a reward
    count: int
    amount: int
    share_bp: int  # share of the pledged amount in basis points; the rows add up to 10 000


@dataclass(frozen=True)
class TierBreakdown:
    rows: list[TierRow]
    count: int
    amount: int


def _shares(amounts: list[int], total: int) -> list[int]:
    """Basis points of total for each amount, rounded so that they add up to exactly 10 000
    (largest remainder), all in integers."""
    if total <= 0:
        return [0] * len(amounts)
    floors = [amount * 10_000 // total for amount in amounts]
    remainders = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] * 10_000 % total), i))
    for i in remainders[:10_000 - sum(floors)]:
        floors[i] += 1
    return floors


def pledges_by_tier(campaign) -> TierBreakdown:
    """Counting pledges per reward tier (every tier of the campaign, cheapest first, then "no
    reward"): two queries (tiers, grouped sums)."""
    tiers = list(db.session.execute(
        db.select(RewardTier).where(RewardTier.campaign_id == campaign.id)
        .order_by(RewardTier.minimum_amount, RewardTier.id)).scalars())
    sums = {tier_id: (int(count), int(amount)) for tier_id, count, amount in db.session.execute(
        db.select(Pledge.reward_tier_id, func.count(Pledge.id), func.coalesce(func.sum(Pledge.amount), 0))
        .where(Pledge.campaign_id == campaign.id, Pledge.state.in_(COUNTING_STATES))
        .group_by(Pledge.reward_tier_id))}
    keyed = [(tier, sums.get(tier.id, (0, 0))) for tier in tiers] + [(None, sums.get(None, (0, 0)))]
    total_count = sum(count for count, _amount in sums.values())
    total_amount = sum(amount for _count, amount in sums.values())
    shares = _shares([amount for _tier, (_count, amount) in keyed], total_amount)
    rows = [TierRow(tier, count, amount, share) for (tier, (count, amount)), share in zip(keyed, shares)]
    return TierBreakdown(rows, total_count, total_amount)


# --- Pledges by state ---------------------------------------------------------------------------

def totals_by_state(campaign) -> dict[str, tuple[int, int]]:
    """state -> (number of pledges, amount) for every pledge state, in one grouped query."""
    found = {state: (int(count), int(amount)) for state, count, amount in db.session.execute(
        db.select(Pledge.state, func.count(Pledge.id), func.coalesce(func.sum(Pledge.amount), 0))
        .where(Pledge.campaign_id == campaign.id).group_by(Pledge.state))}
    return {state: found.get(state, (0, 0)) for state in STATES}


# --- The backer list and its export -------------------------------------------------------------

def check_state_filter(state: str | None) -> str | None:
    """The state a backer list is filtered by (None: every listed state); ValidationFailed for
    anything else."""
    if not state:
        return None
    if state not in LISTED_STATES:
        raise ValidationFailed(_("There is no pledge state called “%(state)s”.", state=state[:40]))
    return state


def _listed(query, campaign, state: str | None):
    query = query.where(Pledge.campaign_id == campaign.id)
    return query.where(Pledge.state == state) if state else query.where(Pledge.state.in_(LISTED_STATES))


def backers_query(campaign, state: str | None = None):
    """The pledges of the backer list, newest first, with backer and tier joined in (for db.paginate)."""
    return _listed(db.select(Pledge), campaign, state).options(
        joinedload(Pledge.backer), joinedload(Pledge.reward_tier)).order_by(Pledge.created_at.desc(), Pledge.id.desc())


CSV_HEADER = ("name", "email", "tier", "amount", "currency", "state", "shipping_country", "pledged_at_utc")
# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """The value as CSV text that no spreadsheet runs as a formula: a leading apostrophe when it
    starts like one. (Commas, quotes and line breaks are quoted by the csv module.)"""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def backers_csv(campaign, state: str | None = None) -> bytes:
    """The backer list as CSV (UTF-8 with a byte-order mark, so spreadsheet apps read it as UTF-8),
    oldest pledge first, in one query. Amounts in major units as a plain decimal (40.00) with
    the currency in a column of its own."""
    rows = db.session.execute(
        _listed(db.select(User.display_name, User.email, RewardTier.title, Pledge.amount, Pledge.state,
                          Pledge.shipping_country, Pledge.created_at)
                .join(User, User.id == Pledge.backer_id)
                .outerjoin(RewardTier, RewardTier.id == Pledge.reward_tier_id), campaign, state)
        .order_by(Pledge.created_at, Pledge.id))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    no_reward = _("No reward")
    for name, email, tier, amount, pledge_state, country, created_at in rows:
        writer.writerow([safe_cell(value) for value in (
            name, email, tier if tier is not None else no_reward, amount_input(amount, campaign.currency),
            campaign.currency, pledge_state, country or "", _iso(created_at))])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
