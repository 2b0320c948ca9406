"""Filters and globals the templates use to show money, dates and Markdown."""
from flask_babel import format_date, format_datetime, format_timedelta, get_locale, gettext, ngettext

from crowdfund import money
from crowdfund.campaigns.models import STATE_LABELS
from crowdfund.clock import utcnow
from crowdfund.markdown import render_markdown


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


def format_basis_points(bp: int) -> str:
    whole, frac = divmod(bp, 100)
    return f"{whole}.{frac:02d} %" if frac else f"{whole} %"


def register(app) -> None:
    app.jinja_env.filters.update(
        money=format_money,
        markdown=render_markdown,
        datetime=lambda value, fmt="medium": format_datetime(value, fmt) if value else "",
        date=lambda value, fmt="medium": format_date(value, fmt) if value else "",
        time_left=format_time_left,
        basis_points=format_basis_points,
        timedelta=lambda value: format_timedelta(value, threshold=1),
    )
    from crowdfund.media.services import image_url

    app.jinja_env.globals.update(utcnow=utcnow, state_label=STATE_LABELS.__getitem__, get_locale=get_locale,
                                 image_url=image_url)
