"""The daily part of crowdfund/risk in the periodic job (crowdfund/ticker.py)."""
from datetime import datetime

from crowdfund.risk.holds import send_digest_if_due


def run_daily(now: datetime) -> None:
    """Recompute what changes with time alone (the helper of crowdfund/risk fills this in). Flushes."""
    send_digest_if_due(now)  # the moderators' daily digest (risk/holds.py)
