"""Filters and globals the templates use to show money, dates, Markdown and absolute links."""
from urllib.parse import urlsplit

from flask import current_app
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


def public_base() -> str:
    """PUBLIC_URL without its trailing slash: the origin (and path prefix) of every absolute link."""
    return current_app.config["PUBLIC_URL"].rstrip("/")


def absolute_url(endpoint: str, **values) -> str:
    """An absolute link to endpoint, on PUBLIC_URL, never on the request's Host (which a client
    chooses, and which a shared page cache would hand to the next visitor). Works outside a request."""
    anchor = values.pop("_anchor", None)
    parts = urlsplit(public_base())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    url = adapter.build(endpoint, values, force_external=True)
    return f"{url}#{anchor}" if anchor else url


def absolute(path: str) -> str:
    """A path on this site as url_for gives it ("/media/...", with any script root) made absolute on
    PUBLIC_URL's origin; an absolute URL (an S3 bucket, a CDN) is left alone."""
    if path.startswith(("http://", "https://")):
        return path
    parts = urlsplit(public_base())
    return f"{parts.scheme}://{parts.netloc}/{path.lstrip('/')}"
