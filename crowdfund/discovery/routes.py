import hashlib

from flask import Blueprint, current_app, request
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from crowdfund.campaigns.services import categories, category_by_slug
from crowdfund.clock import utcnow
from crowdfund.database import requested_page
from crowdfund.discovery import services
from crowdfund.extensions import db
from crowdfund.page_cache import LISTINGS
from crowdfund.personal import shared_page

bp = Blueprint("discovery", __name__)


def _listing(template_name: str, make_context, **shell_context):
    """A listing page: its body is the same for everyone, stored per URL until a campaign or a pledge
    changes what the listings show (crowdfund/page_cache.py); the viewer's header is put around it."""
    key = hashlib.sha256(request.full_path.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return shared_page(f"listing:{key}", (LISTINGS,), template_name, make_context, **shell_context)


@bp.get("/")
def home():
    def page():
        now = utcnow()
        sections = services.home_sections(now)
        return dict(sections=sections, now=now, categories=categories())
    return _listing("discovery/home.html", page)


@bp.get("/discover")
@bp.get("/discover/<category_slug>")
def discover(category_slug=None):
    def page():
        now = utcnow()
        category = None
        if category_slug:
            category = category_by_slug(category_slug)
            if category is None:
                raise NotFound()
        sort = request.args.get("sort", "trending")
        if sort not in services.SORTS:
            sort = "trending"
        category_id = category.id if category else None
        query = services.funded_query(category_id) if sort == "funded" else \
            services.sorted_live_query(now, sort, category_id)
        # The total is counted on the plain filter (one COUNT, without the order).
        listed = db.paginate(query, page=requested_page(request.args), per_page=current_app.config["PAGE_SIZE"],
                             error_out=False, count=False)
        listed.total = services.listing_count(now, sort, category_id)
        return dict(page=listed, now=now, categories=categories(), category=category, sort=sort)
    return _listing("discovery/discover.html", page)


@bp.get("/search")
def search():
    text = request.args.get("q", "").strip()[:200]

    def page():
        query = services.search_query(text)
        found = None
        if query is not None:
            found = db.paginate(query, page=requested_page(request.args), per_page=current_app.config["PAGE_SIZE"],
                                error_out=False)
        return dict(q=text, page=found, now=utcnow(), title=_("Search"))
    return _listing("discovery/search.html", page, q=text)


@bp.get("/healthz")
def healthz():
    """For load balancers and monitors: the database (SELECT 1) and, when CELERY_BROKER_URL is set,
    the broker (a ping with a 1 s timeout). 200 when everything configured answers, 503 otherwise."""
    checks = {"database": _database_health(), "broker": _broker_health(current_app.config.get("CELERY_BROKER_URL"))}
    healthy = all(result in ("ok", "not configured") for result in checks.values())
    return {"status": "ok" if healthy else "degraded", **checks}, 200 if healthy else 503


def _database_health() -> str:
    try:
        db.session.execute(db.text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("Health check: the database did not answer")
        db.session.rollback()
        return "error"
    return "ok"


BROKER_TIMEOUT_SECONDS = 1.0


def _broker_health(url: str | None) -> str:
    """Pings the broker itself (redis-py, or a TCP connect for other schemes), not through Celery,
    so a dead broker costs at most the timeout and never blocks on Celery's retries."""
    if not url:
        return "not configured"
    try:
        if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
                                          socket_timeout=BROKER_TIMEOUT_SECONDS)
            try:
                client.ping()
            finally:
                client.close()
        else:
            import socket
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            default_ports = {"amqp": 5672, "amqps": 5671, "pyamqp": 5672}
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_ports.get(parts.scheme, 5672)),
                                          timeout=BROKER_TIMEOUT_SECONDS):
                pass
    except Exception:  # any failure to reach it is "error"; the details go to the log
        current_app.logger.warning("Health check: the broker did not answer", exc_info=True)
        return "error"
    return "ok"
