"""The daily part of crowdfund/risk in the periodic job (crowdfund/ticker.py)."""
from datetime import datetime


def run_daily(now: datetime) -> None:
    """Recompute what changes with time alone (the helper of crowdfund/risk fills this in). Flushes."""
