"""Where the money is: the transparency section of every funded (and abandoned) campaign page.

Every figure is a sum of ledger rows (ledger.money_totals); the timeline lists every release (a
ledger "release" row, matched to its Release by the Stripe transfer id for the milestone) and the
refunds and disputes summed per day (no backer is named); the spend table sets the budget against
the spending the founder reported in updates. A constant number of queries, however many rows."""
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func

from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.extensions import db
from crowdfund.payments import ledger
from crowdfund.payments.models import LedgerEntry
from crowdfund.payouts.models import Release
from crowdfund.updates.services import spend_by_line

# Campaign states whose page shows the section: the money was collected.
TRANSPARENT_STATES = ("successful", "abandoned")


@dataclass(frozen=True)
class TimelineEvent:
    day: date
    kind: str  # "release", "refund" or "dispute"
    amount: int  # > 0
    milestone_title: str | None = None  # releases: the milestone (None: first tranche or unknown)
    first_tranche: bool = False
    count: int = 1  # refunds and disputes: how many on that day


@dataclass(frozen=True)
class SpendRow:
    purpose: str
    planned: int
    reported: int


@dataclass(frozen=True)
class Transparency:
    totals: ledger.MoneyTotals
    timeline: list[TimelineEvent]
    spend: list[SpendRow]

    @property
    def reconciles(self) -> bool:
        t = self.totals
        return (t.held >= 0 and min(t.collected, t.refunded, t.platform_fees, t.disputed, t.released) >= 0
                and t.collected == t.released + t.held + t.refunded + t.disputed + t.platform_fees)

    @property
    def planned_total(self) -> int:
        return sum(row.planned for row in self.spend)

    @property
    def reported_total(self) -> int:
        return sum(row.reported for row in self.spend)


def _day(value) -> date:
    # func.date() gives a string on SQLite and a date on PostgreSQL.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def timeline(campaign_id: int) -> list[TimelineEvent]:
    """Releases one by one, refunds and disputes per day; oldest first (two queries)."""
    releases = db.session.execute(
        db.select(LedgerEntry.created_at, LedgerEntry.amount, Release.id, Release.transferred_at,
                  Release.milestone_id, Milestone.title)
        .outerjoin(Release, Release.stripe_transfer_id == LedgerEntry.stripe_id)
        .outerjoin(Milestone, Milestone.id == Release.milestone_id)
        .where(LedgerEntry.campaign_id == campaign_id, LedgerEntry.kind == "release")
        .order_by(LedgerEntry.created_at, LedgerEntry.id)).all()
    events = [TimelineEvent(_day(transferred_at or booked_at), "release", -amount, title,
                            first_tranche=release_id is not None and milestone_id is None)
              for booked_at, amount, release_id, transferred_at, milestone_id, title in releases]
    day = func.date(LedgerEntry.created_at)
    per_day = db.session.execute(
        db.select(day, LedgerEntry.kind, func.sum(LedgerEntry.amount), func.count(LedgerEntry.id))
        .where(LedgerEntry.campaign_id == campaign_id, LedgerEntry.kind.in_(("refund", "dispute")))
        .group_by(day, LedgerEntry.kind)).all()
    events += [TimelineEvent(_day(d), kind, -int(total), count=int(count)) for d, kind, total, count in per_day]
    order = {"release": 0, "refund": 1, "dispute": 2}
    return sorted(events, key=lambda e: (e.day, order[e.kind]))


def money_transparency(campaign: Campaign) -> Transparency | None:
    """Template global: the section's data, or None when the campaign collected nothing to show."""
    if campaign.state not in TRANSPARENT_STATES:
        return None
    totals = ledger.money_totals([campaign.id]).get(campaign.id, ledger.MoneyTotals())
    spent = spend_by_line(campaign)
    spend = [SpendRow(line.purpose, line.amount, spent.get(line.id, 0)) for line in campaign.budget_lines]
    return Transparency(totals, timeline(campaign.id), spend)


def register(app) -> None:
    """The template globals of the payouts' public side (called from create_app)."""
    from crowdfund.payouts.abandon import milestone_overdue_since

    app.add_template_global(money_transparency, "money_transparency")
    app.add_template_global(milestone_overdue_since, "milestone_overdue_since")
