"""Derived columns: values computed from others and stored, so a page reads them instead of computing
them per view (issue 17; docs/architecture.md "Derived columns").

- Totals (campaign.pledged_amount, backer_count) are kept by database triggers on `pledge`
  (crowdfund/database.py); this module only recomputes them in bulk and compares them with the pledges.
- Stored HTML (campaign.story_html and risks_html, reward_tier and milestone description_html,
  user.bio_html, campaign_update body_html and milestone_note_html) is rendered by an ORM flush hook
  whenever its Markdown source is saved, whatever service saved it; the story, update bodies and
  milestone notes are rendered with the campaign's gallery and rendered again when the gallery changes.
- Trending (campaign.trending_score) is refreshed by the periodic job and when a campaign launches.

The stored HTML holds image addresses (crowdfund/media/storage.image_url): after a change of media
storage, `flask crowdfund derived refresh` renders it all again."""
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app, has_app_context, has_request_context
from sqlalchemy import bindparam, event, func, inspect
from sqlalchemy.orm import Session, attributes

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign, Milestone, RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.markdown import render_markdown
from crowdfund.media.models import GalleryImage, Image
from crowdfund.pledges.models import COUNTING_STATES, Pledge
from crowdfund.updates.models import Update

TRENDING_WINDOW = timedelta(days=7)

# Markdown source -> stored HTML, per model. GALLERY_FIELDS are rendered with the campaign's gallery.
PLAIN_FIELDS = {Campaign: (("risks", "risks_html"),), RewardTier: (("description", "description_html"),),
                Milestone: (("description", "description_html"),), User: (("bio", "bio_html"),)}
GALLERY_FIELDS = {Campaign: (("story", "story_html"),),
                  Update: (("body", "body_html"), ("milestone_note", "milestone_note_html"))}
_PENDING = "crowdfund_derived_pending"


@contextmanager
def _urls():
    """Image addresses need a request to be built; outside one (CLI, jobs, migrations) use PUBLIC_URL's.
    (Without an app at all nothing can hold a gallery image address: Markdown renders without one.)"""
    if has_request_context() or not has_app_context():
        yield
        return
    with current_app.test_request_context("/", base_url=current_app.config.get("PUBLIC_URL") or None):
        yield


# ---- totals --------------------------------------------------------------------------------------

def _totals_subqueries(campaign):
    counting = (Pledge.campaign_id == campaign.c.id) & Pledge.state.in_(COUNTING_STATES)
    amount = db.select(func.coalesce(func.sum(Pledge.amount), 0)).where(counting).scalar_subquery()
    backers = db.select(func.count(func.distinct(Pledge.backer_id))).where(counting).scalar_subquery()
    return amount, backers


def refresh_totals(executor=None, campaign_ids=None) -> None:
    """Recompute campaign.pledged_amount and backer_count from the pledges (all campaigns, or the ids
    given). The triggers keep them; this is for rows written around them (a backfill, a repair).
    `executor`: a Connection (migrations) or the session (the default). Never commits."""
    executor = executor if executor is not None else db.session
    campaign = Campaign.__table__
    amount, backers = _totals_subqueries(campaign)
    statement = campaign.update().values(pledged_amount=amount, backer_count=backers)
    if campaign_ids is not None:
        statement = statement.where(campaign.c.id.in_(list(campaign_ids)))
    executor.execute(statement)


def totals_differences(campaign_ids=None) -> list[tuple[int, str, tuple[int, int], tuple[int, int]]]:
    """Campaigns whose stored totals differ from the pledges: (id, slug, stored (amount, backers),
    counted (amount, backers)). Read-only; one query. For `flask crowdfund reconcile`."""
    campaign = Campaign.__table__
    amount, backers = _totals_subqueries(campaign)
    query = (db.select(campaign.c.id, campaign.c.slug, campaign.c.pledged_amount, campaign.c.backer_count,
                       amount.label("amount"), backers.label("backers"))
             .order_by(campaign.c.id))
    if campaign_ids is not None:
        query = query.where(campaign.c.id.in_(list(campaign_ids)))
    return [(row.id, row.slug, (row.pledged_amount, row.backer_count), (int(row.amount), int(row.backers)))
            for row in db.session.execute(query)
            if (row.pledged_amount, row.backer_count) != (int(row.amount), int(row.backers))]


# ---- trending ------------------------------------------------------------------------------------

def refresh_trending(now: datetime, campaign_ids=None, executor=None) -> list[int]:
    """campaign.trending_score of live campaigns (all, or the ids given) := the sum of their counting
    pledges made in the last TRENDING_WINDOW, the order the discover "trending" sort always had
    (ties: launched later first, then higher id). Writes only the scores that changed (one SELECT, and
    an UPDATE only when something moved: a periodic run with nothing to do writes nothing, so cached
    pages stay valid) and returns those campaigns' ids. Never commits."""
    executor = executor if executor is not None else db.session
    campaign = Campaign.__table__
    recent = (db.select(func.coalesce(func.sum(Pledge.amount), 0))
              .where(Pledge.campaign_id == campaign.c.id, Pledge.state.in_(COUNTING_STATES),
                     Pledge.created_at >= now - TRENDING_WINDOW).scalar_subquery())
    query = db.select(campaign.c.id, recent.label("score")).where(campaign.c.state == "live")
    if campaign_ids is not None:
        query = query.where(campaign.c.id.in_(list(campaign_ids)))
    query = query.where(campaign.c.trending_score != recent)
    changed = [{"_id": row.id, "_score": int(row.score)} for row in executor.execute(query)]
    if changed:
        executor.execute(campaign.update().where(campaign.c.id == bindparam("_id"))
                         .values(trending_score=bindparam("_score")), changed)
    return [row["_id"] for row in changed]


# ---- stored HTML ---------------------------------------------------------------------------------

def _galleries(executor, campaign_ids=None) -> dict[int, list]:
    """campaign id -> its gallery in order, as the items render_markdown reads (id, image)."""
    gallery, image = GalleryImage.__table__, Image.__table__
    query = (db.select(gallery.c.id, gallery.c.campaign_id, image.c.key, image.c.width, image.c.height,
                       image.c.widths)
             .join(image, image.c.id == gallery.c.image_id)
             .order_by(gallery.c.campaign_id, gallery.c.position, gallery.c.id))
    if campaign_ids is not None:
        query = query.where(gallery.c.campaign_id.in_(list(campaign_ids)))
    result: dict[int, list] = {}
    for row in executor.execute(query):
        picture = Image(key=row.key, width=row.width, height=row.height, widths=row.widths)
        result.setdefault(row.campaign_id, []).append(SimpleNamespace(id=row.id, image=picture))
    return result


def _store(executor, table, column: str, rows: list[dict]) -> None:
    if rows:
        executor.execute(table.update().where(table.c.id == bindparam("_id"))
                         .values({column: bindparam("_html")}), rows)


def _render_rows(executor, model, fields, where=None, galleries=None) -> list[tuple[int, str, str]]:
    """Render `fields` of every row of `model` (matching `where`); store what changed. Returns
    (id, column, html) of what was stored."""
    table = model.__table__
    columns = [table.c.id] + [table.c[name] for pair in fields for name in pair]
    if galleries is not None:
        columns.append((table.c.id if model is Campaign else table.c.campaign_id).label("gallery_owner"))
    query = db.select(*columns)
    if where is not None:
        query = query.where(where)
    stored: list[tuple[int, str, str]] = []
    changes: dict[str, list[dict]] = {html: [] for _source, html in fields}
    for row in executor.execute(query):
        gallery = galleries.get(row.gallery_owner, []) if galleries is not None else None
        for source, html_column in fields:
            html = str(render_markdown(getattr(row, source), gallery))
            if html != getattr(row, html_column):
                changes[html_column].append({"_id": row.id, "_html": html})
                stored.append((row.id, html_column, html))
    for html_column, rows in changes.items():
        _store(executor, table, html_column, rows)
    return stored


def refresh_html(executor=None, campaign_ids=None) -> None:
    """Render every stored HTML column again (of all rows, or of the campaigns given and their tiers,
    milestones and updates; bios only when rendering all). `executor`: a Connection or the session
    (the default). Only rows whose HTML changes are written. Never commits."""
    executor = executor if executor is not None else db.session
    with _urls():
        galleries = _galleries(executor, campaign_ids)
        ids = list(campaign_ids) if campaign_ids is not None else None

        def of(model):
            if ids is None:
                return None
            return model.__table__.c.id.in_(ids) if model is Campaign else model.__table__.c.campaign_id.in_(ids)

        _render_rows(executor, Campaign, GALLERY_FIELDS[Campaign], of(Campaign), galleries)
        _render_rows(executor, Campaign, PLAIN_FIELDS[Campaign], of(Campaign))
        _render_rows(executor, Update, GALLERY_FIELDS[Update], of(Update), galleries)
        _render_rows(executor, RewardTier, PLAIN_FIELDS[RewardTier], of(RewardTier))
        _render_rows(executor, Milestone, PLAIN_FIELDS[Milestone], of(Milestone))
        if ids is None:
            _render_rows(executor, User, PLAIN_FIELDS[User])


def _changed(state, name: str) -> bool:
    return state.attrs[name].history.has_changes()


def _before_flush(session, _context, _instances) -> None:
    """Render the plain fields at once; note what needs the gallery, rendered after the flush."""
    pending = session.info.setdefault(_PENDING, {"objects": [], "campaigns": set(), "campaign_objects": []})
    new = session.new
    for obj in list(new) + list(session.dirty):
        model = type(obj)
        fields = PLAIN_FIELDS.get(model)
        if fields:
            state = inspect(obj)
            for source, html in fields:
                if obj in new or _changed(state, source):  # no gallery: no image address to build
                    setattr(obj, html, str(render_markdown(getattr(obj, source))))
        fields = GALLERY_FIELDS.get(model)
        if fields:
            state = inspect(obj)
            if obj in new or any(_changed(state, source) for source, _html in fields):
                pending["objects"].append(obj)
        if model is Campaign and obj not in new and "gallery" in obj.__dict__ and _changed(inspect(obj), "gallery"):
            pending["campaign_objects"].append(obj)
        if model is GalleryImage:
            state = inspect(obj)
            if obj.campaign_id is not None:
                pending["campaigns"].add(obj.campaign_id)
            for owner in state.attrs.campaign.history.sum():
                if owner is not None:
                    pending["campaign_objects"].append(owner)
    for obj in session.deleted:
        if isinstance(obj, GalleryImage) and obj.campaign_id is not None:
            pending["campaigns"].add(obj.campaign_id)


def _after_flush_postexec(session, _context) -> None:
    """Render what needs the gallery, now that the gallery rows are in the database, and keep the
    loaded objects in step without making them dirty again."""
    pending = session.info.pop(_PENDING, None)
    if not pending or not (pending["objects"] or pending["campaigns"] or pending["campaign_objects"]):
        return
    campaign_ids = set(pending["campaigns"])
    campaign_ids.update(c.id for c in pending["campaign_objects"] if c.id is not None)
    objects = [o for o in pending["objects"] if o.id is not None and not inspect(o).deleted
               and not inspect(o).detached]
    wanted = campaign_ids | {o.id if isinstance(o, Campaign) else o.campaign_id for o in objects}
    if not wanted:
        return
    with session.no_autoflush, _urls():
        connection = session.connection()
        galleries = _galleries(connection, wanted)
        stored: list[tuple[type, int, str, str]] = []
        if campaign_ids:
            ids = list(campaign_ids)
            stored += [(Campaign, *row) for row in _render_rows(
                connection, Campaign, GALLERY_FIELDS[Campaign], Campaign.__table__.c.id.in_(ids), galleries)]
            stored += [(Update, *row) for row in _render_rows(
                connection, Update, GALLERY_FIELDS[Update], Update.__table__.c.campaign_id.in_(ids), galleries)]
        batches: dict[tuple[type, str], list[dict]] = {}
        for obj in objects:
            model = type(obj)
            campaign_id = obj.id if model is Campaign else obj.campaign_id
            if campaign_id in campaign_ids:
                continue  # done above
            for source, html_column in GALLERY_FIELDS[model]:
                html = str(render_markdown(getattr(obj, source), galleries.get(campaign_id, [])))
                if html != obj.__dict__.get(html_column):
                    batches.setdefault((model, html_column), []).append({"_id": obj.id, "_html": html})
                    stored.append((model, obj.id, html_column, html))
        for (model, html_column), rows in batches.items():
            _store(connection, model.__table__, html_column, rows)
    for model, row_id, column, html in stored:
        obj = session.identity_map.get(session.identity_key(model, row_id))
        if obj is not None:
            attributes.set_committed_value(obj, column, html)


def _forget_pending(session, _previous_transaction=None) -> None:
    session.info.pop(_PENDING, None)  # a flush that failed: its objects are rolled back


def register() -> None:
    """Install the flush hooks (once per process; called by create_app)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
        event.listen(Session, "after_soft_rollback", _forget_pending)


# ---- everything ----------------------------------------------------------------------------------

def refresh_all(now: datetime | None = None) -> None:
    """Recompute every derived column of every campaign: totals, stored HTML (bios too) and trending.
    For rows written around the ORM (bench/seed.py's raw SQL) and after a media storage change.
    Flushes the session first and expires what it loaded; never commits (the caller does)."""
    db.session.flush()
    refresh_totals()
    refresh_html()
    refresh_trending(now or utcnow())
    db.session.expire_all()
