from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from crowdfund.campaigns.services import categories, category_by_slug
from crowdfund.clock import utcnow
from crowdfund.database import requested_page
from crowdfund.discovery import services
from crowdfund.extensions import db
from crowdfund.pledges.services import pledged_totals

bp = Blueprint("discovery", __name__)


@bp.get("/")
def home():
    now = utcnow()
    sections = services.home_sections(now)
    ids = {c.id for campaigns in sections.values() for c in campaigns}
    return render_template("discovery/home.html", sections=sections, totals=pledged_totals(ids), now=now,
                           categories=categories())


@bp.get("/discover")
@bp.get("/discover/<category_slug>")
def discover(category_slug=None):
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
    page = db.paginate(query, page=requested_page(request.args), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)
    return render_template("discovery/discover.html", page=page, totals=pledged_totals(c.id for c in page.items),
                           now=now, categories=categories(), category=category, sort=sort)


@bp.get("/search")
def search():
    now = utcnow()
    text = request.args.get("q", "").strip()[:200]
    query = services.search_query(text)
    page = None
    if query is not None:
        page = db.paginate(query, page=requested_page(request.args), per_page=current_app.config["PAGE_SIZE"],
                           error_out=False)
    totals = pledged_totals(c.id for c in page.items) if page else {}
    return render_template("discovery/search.html", q=text, page=page, totals=totals, now=now,
                           title=_("Search"))


@bp.get("/healthz")
def healthz():
    """For load balancers and monitors: 200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(db.text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("Health check: the database did not answer")
        db.session.rollback()
        return {"status": "error", "database": "unavailable"}, 503
    return {"status": "ok", "database": "ok"}
