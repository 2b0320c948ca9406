"""The one source of "now" (naive UTC), so deadlines can be tested with a given time."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
