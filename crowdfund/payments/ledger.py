"""The ledger: immutable rows for every money movement, and the totals derived from them."""
from dataclasses import dataclass

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments.models import LEDGER_KINDS, LedgerEntry

# The sign each kind's amount must carry.
SIGNS = {"charge": 1, "refund": -1, "platform_fee": 1, "dispute": -1, "release": -1}


@dataclass(frozen=True)
class MoneyTotals:
    """Sums of a campaign's ledger rows, in minor units (all ≥ 0)."""

    collected: int = 0
    refunded: int = 0
    platform_fees: int = 0
    disputed: int = 0
    released: int = 0

    @property
    def net(self) -> int:
        """Money kept from backers: collected less refunds and disputes (fees and releases included)."""
        return self.collected - self.refunded - self.disputed

    @property
    def held(self) -> int:
        """Money the platform still holds for the founder: net less the platform's fees and what was
        already released. collected == held + released + refunded + disputed + platform_fees."""
        return self.net - self.platform_fees - self.released


def book(campaign_id: int, kind: str, amount: int, currency: str, pledge_id: int | None = None,
         stripe_id: str | None = None, note: str = "", actor_id: int | None = None) -> LedgerEntry | None:
    """Write one ledger row; amount is given as a positive number and stored with the kind's sign.

    A Stripe object is booked once per kind: booking the same (kind, stripe_id) again returns None
    and writes nothing (a webhook and a job may both report the same charge). Flushes."""
    if kind not in LEDGER_KINDS:
        raise ValueError(f"Unknown ledger kind {kind!r}")
    if not isinstance(amount, int) or amount <= 0:
        raise ValueError("Ledger amounts are positive integers in minor units")
    values = {"campaign_id": campaign_id, "pledge_id": pledge_id, "kind": kind, "amount": SIGNS[kind] * amount,
              "currency": currency, "stripe_id": stripe_id, "note": note[:500], "actor_id": actor_id,
              "created_at": utcnow()}
    if stripe_id is None:
        entry = LedgerEntry(**values)
        db.session.add(entry)
        db.session.flush()
        return entry
    # INSERT … ON CONFLICT DO NOTHING rather than a savepoint: pysqlite sends no BEGIN before a
    # SAVEPOINT, so releasing one that opens the transaction would commit it on the spot.
    # RETURNING the entity hands back the new row as an ORM object, without a second SELECT.
    insert = sqlite_insert if db.session.get_bind().dialect.name == "sqlite" else postgresql_insert
    return db.session.scalars(
        insert(LedgerEntry).values(**values).on_conflict_do_nothing(index_elements=["kind", "stripe_id"])
        .returning(LedgerEntry)).one_or_none()


def money_totals(campaign_ids) -> dict[int, MoneyTotals]:
    """campaign id -> MoneyTotals, in one grouped query for all ids."""
    ids = list(campaign_ids)
    if not ids:
        return {}

    def total(kind):
        return func.coalesce(func.sum(case((LedgerEntry.kind == kind, LedgerEntry.amount), else_=0)), 0)

    rows = db.session.execute(
        db.select(LedgerEntry.campaign_id, total("charge"), total("refund"), total("platform_fee"), total("dispute"),
                  total("release"))
        .where(LedgerEntry.campaign_id.in_(ids)).group_by(LedgerEntry.campaign_id))
    return {cid: MoneyTotals(int(c), -int(r), int(f), -int(d), -int(rel)) for cid, c, r, f, d, rel in rows}


def pledge_balance(pledge_id: int) -> tuple[int, int]:
    """(collected, refunded) for one pledge, both ≥ 0: what may still be refunded is their difference."""
    collected, refunded = db.session.execute(
        db.select(func.coalesce(func.sum(case((LedgerEntry.kind == "charge", LedgerEntry.amount), else_=0)), 0),
                  func.coalesce(func.sum(case((LedgerEntry.kind.in_(("refund", "dispute")), LedgerEntry.amount),
                                              else_=0)), 0))
        .where(LedgerEntry.pledge_id == pledge_id)).one()
    return int(collected), -int(refunded)


def pledge_balances(pledge_ids) -> dict[int, tuple[int, int]]:
    """pledge id -> (collected, refunded) as pledge_balance gives it, in one grouped query for all ids."""
    ids = list(pledge_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        db.select(LedgerEntry.pledge_id,
                  func.coalesce(func.sum(case((LedgerEntry.kind == "charge", LedgerEntry.amount), else_=0)), 0),
                  func.coalesce(func.sum(case((LedgerEntry.kind.in_(("refund", "dispute")), LedgerEntry.amount),
                                              else_=0)), 0))
        .where(LedgerEntry.pledge_id.in_(ids)).group_by(LedgerEntry.pledge_id))
    return {pledge_id: (int(collected), -int(refunded)) for pledge_id, collected, refunded in rows}


def pledges_with_money(campaign_id: int) -> list:
    """Pledges of the campaign that have a charge in the ledger, oldest first."""
    from crowdfund.pledges.models import Pledge

    charged = db.select(LedgerEntry.pledge_id).where(LedgerEntry.campaign_id == campaign_id,
                                                     LedgerEntry.kind == "charge")
    return list(db.session.execute(db.select(Pledge).where(Pledge.id.in_(charged)).order_by(Pledge.id)).scalars())
