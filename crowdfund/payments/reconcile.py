"""Comparing a campaign's ledger with what Stripe says happened, pledge by pledge.

Every PaymentIntent the app ever made for a pledge (each charge attempt's, and the pledge's
latest) is read back; a succeeded one must have exactly one ledger charge of the same amount,
each of its refunds a ledger refund row of the same id and amount, and every ledger charge or
refund must exist at Stripe. Read-only: it reports, it never books."""
from dataclasses import dataclass

from crowdfund import money
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.payments.models import ChargeAttempt, LedgerEntry
from crowdfund.pledges.models import Pledge


@dataclass(frozen=True)
class Difference:
    pledge_id: int
    kind: str  # "missing_in_ledger" | "missing_in_stripe" | "amount_differs"
    stripe_id: str | None
    message: str


def _payment_intent_ids(pledge: Pledge, attempts: dict[int, list[str]]) -> list[str]:
    ids = list(dict.fromkeys([*attempts.get(pledge.id, []), pledge.stripe_payment_intent_id]))
    return [i for i in ids if i]


def reconcile_campaign(campaign: Campaign) -> list[Difference]:
    """Every difference between the campaign's ledger charges/refunds and Stripe's; [] when they agree.
    Raises gateway.GatewayError when Stripe cannot be asked."""
    currency = campaign.currency

    def fmt(amount: int) -> str:
        return money.format_money(amount, currency)

    pledges = list(db.session.execute(
        db.select(Pledge).where(Pledge.campaign_id == campaign.id).order_by(Pledge.id)).scalars())
    attempts: dict[int, list[str]] = {}
    for pledge_id, intent_id in db.session.execute(
            db.select(ChargeAttempt.pledge_id, ChargeAttempt.payment_intent_id)
            .join(Pledge, Pledge.id == ChargeAttempt.pledge_id)
            .where(Pledge.campaign_id == campaign.id, ChargeAttempt.payment_intent_id.is_not(None))
            .order_by(ChargeAttempt.attempt)):
        attempts.setdefault(pledge_id, []).append(intent_id)
    entries: dict[int, list[LedgerEntry]] = {}
    for entry in db.session.execute(db.select(LedgerEntry).where(
            LedgerEntry.campaign_id == campaign.id, LedgerEntry.kind.in_(("charge", "refund")))
            .order_by(LedgerEntry.id)).scalars():
        entries.setdefault(entry.pledge_id, []).append(entry)

    differences: list[Difference] = []
    for pledge in pledges:
        ledger_charges = [e for e in entries.get(pledge.id, []) if e.kind == "charge"]
        ledger_refunds = {e.stripe_id or f"#{e.id}": e for e in entries.get(pledge.id, []) if e.kind == "refund"}
        matched_charges: set[int] = set()
        stripe_refund_ids: set[str] = set()

        def report(kind, stripe_id, message):
            differences.append(Difference(pledge.id, kind, stripe_id, f"pledge {pledge.id}: {message}"))

        for intent_id in _payment_intent_ids(pledge, attempts):
            details = gateway.payment_details(intent_id)
            if details is None or details.status != "succeeded":
                continue
            entry = next((e for e in ledger_charges if e.id not in matched_charges
                          and e.stripe_id in (details.id, details.charge_id)), None)
            if entry is None:
                report("missing_in_ledger", details.id,
                       f"charge {details.id} of {fmt(details.amount)} is in Stripe but missing in the ledger")
            else:
                matched_charges.add(entry.id)
                if entry.amount != details.amount:
                    report("amount_differs", details.id, f"charge {details.id}: ledger {fmt(entry.amount)}, "
                                                         f"Stripe {fmt(details.amount)}")
            for refund in gateway.refunds_of(details.id):
                if refund.status not in ("succeeded", "pending"):
                    continue
                stripe_refund_ids.add(refund.id)
                booked = ledger_refunds.get(refund.id)
                if booked is None:
                    report("missing_in_ledger", refund.id,
                           f"refund {refund.id} of {fmt(refund.amount)} is in Stripe but missing in the ledger")
                elif -booked.amount != refund.amount:
                    report("amount_differs", refund.id, f"refund {refund.id}: ledger {fmt(-booked.amount)}, "
                                                        f"Stripe {fmt(refund.amount)}")
        for entry in ledger_charges:
            if entry.id not in matched_charges:
                report("missing_in_stripe", entry.stripe_id,
                       f"ledger charge {entry.stripe_id or '(no Stripe id)'} of {fmt(entry.amount)} "
                       "is missing in Stripe")
        for refund_id, entry in ledger_refunds.items():
            if refund_id not in stripe_refund_ids:
                report("missing_in_stripe", refund_id,
                       f"ledger refund {refund_id} of {fmt(-entry.amount)} is missing in Stripe")
    return differences
