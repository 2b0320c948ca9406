"""Work a fresh gunicorn worker does before it takes its first request (gunicorn.conf.py's
post_worker_init), instead of making its first visitors wait for it.

A new worker process has compiled no template, configured no mapper, opened no database or Redis
connection and loaded no locale data: its first requests took 150-200 ms each instead of 1-15 ms,
and several of them at once on a 2-core machine stalled for 0.5 s and more (docs/benchmarks.md).
Workers are new after a deploy, after one is killed for a timeout, and when gunicorn recycles them.
Nothing here writes; a failure (the database still starting, say) is logged and the worker starts
anyway, as it would have without the warm-up.
"""
import time

from babel import Locale
from babel.numbers import format_currency
from sqlalchemy import text
from sqlalchemy.orm import configure_mappers


def warm(app) -> float:
    """Prepare app's templates, mappers, connections and locales; returns the seconds it took."""
    started = time.perf_counter()
    steps = (("mappers", configure_mappers), ("templates", lambda: _compile_templates(app)),
             ("database", lambda: _connect_database(app)), ("page cache", lambda: _connect_page_cache(app)),
             ("locales", lambda: _load_locales(app)))
    for name, step in steps:
        try:
            with app.app_context():
                step()
        except Exception:
            app.logger.warning("Warm-up step %r failed; the first request will do it", name, exc_info=True)
    return time.perf_counter() - started


def _compile_templates(app) -> None:
    environment = app.jinja_env
    for name in environment.list_templates(extensions=("html", "txt")):
        environment.get_template(name)


def _connect_database(app) -> None:
    from crowdfund.extensions import db

    with db.engine.connect() as connection:  # the pool keeps it for the first request
        connection.execute(text("SELECT 1"))


def _connect_page_cache(app) -> None:
    cache = app.extensions.get("crowdfund_page_cache")
    if cache is not None:
        from crowdfund.page_cache import ALL

        cache.lookup("warm-up", (ALL,))  # connects (the first lookup of a process also sets "all" if none)


def _load_locales(app) -> None:
    for language in app.config.get("LANGUAGES", ["en"]):
        format_currency(1, "USD", locale=Locale.parse(language))
