"""Filters and globals the templates use to show money, dates and Markdown."""
from flask_babel import format_decimal, get_locale, gettext, ngettext

from crowdfund import money


def format_money(minor: int | None, currency: str) -> str:
    return money.format_money(minor or 0, currency, locale=str(get_locale() or "en"))


def format_time_left(seconds: int) -> str:
    """A short, honest "time left": days, then hours, then minutes."""
    if seconds <= 0:
        return gettext("ended")
    # Days and hours are rounded to the nearest, so a 20-day campaign just launched shows
    # "20 days left"; under a day it counts hours, under an hour minutes (never "0").
    if seconds >= 86400:
        days = (seconds + 43200) // 86400
        return ngettext("%(num)d day left", "%(num)d days left", days)
    if seconds >= 3600:
        return ngettext("%(num)d hour left", "%(num)d hours left", (seconds + 1800) // 3600)
    return ngettext("%(num)d minute left", "%(num)d minutes left", max(seconds // 60, 1))


def format_size(size: int) -> str:
    """A byte count as a person reads it: 12 MB, 512 KB."""
    if size >= 1024 * 1024:
        return format_decimal(round(size / (1024 * 1024), 1)) + " MB"
    return format_decimal(max(size // 1024, 1)) + " KB"


def format_basis_points(bp: int) -> str:
    whole, frac = divmod(bp, 100)
    return f"{whole}.{frac:02d} %" if frac else f"{whole} %"
