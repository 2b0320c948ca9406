"""The page cache: whole pages for anonymous visitors, and the public body of a page for everyone.

Whole pages: only GETs of the endpoints in CACHED_ENDPOINTS, only for a visitor who is not logged in
(no user and no flash message in the session, no remember-me cookie), and only a 200 response that
sets no cookie and holds no CSRF token is stored. Fragments (`fragment`): the part of a page that is
the same for every viewer of a kind — a campaign's story, budget, rewards, updates and ledger — is
stored once and reused for signed-in visitors too, the personal parts rendered around it.

Invalidation is by what changed. Every stored page and fragment depends on named versions: a
campaign's pages on "c:<slug>", the listings (home, discover, search) on "listings", everything on
"all"; each carries the versions it was made under. A database transaction that writes (an ORM
flush, or an INSERT/UPDATE/DELETE through the session) works out which versions its rows touch —
a pledge or a comment touches its campaign (and a pledge, the listings: their totals), a founder's
new name touches the founder's campaigns — and sets new values for those when it commits, in a web
worker, a Celery worker or a command alike. So a pledge on one campaign leaves the other 999 cached,
and the next visitor of that one sees it. Rows no public page shows (log-in sessions, email
deliveries, outbox events, audit entries, risk scores, follows …: NOT_SHOWN) touch nothing; a row
whose pages cannot be worked out (a table not described here, a bulk statement without a recognisable
key) touches "all", so a mistake costs speed, never freshness. The versions a page needs come from
its URL (the slug), so they are read with the page itself, before any database query: a write that
commits while a page renders always makes that page stale. Pages that change with the clock alone
("3 days left") are fresh for PAGE_CACHE_SECONDS.

One page at a time is made again: when a page is stale (a write, or its seconds are up), the first
visitor claims it and renders it, and the visitors who arrive while that render runs get the last
stored page ("X-Page-Cache: stale", at most PAGE_CACHE_STALE_SECONDS past its time) instead of
rendering it too. Without this, a popular page whose time ran out was rendered by every request in
flight at once, and those requests stalled for 150-180 ms (docs/benchmarks.md). A claim lasts
until its render ends, or CLAIM_SECONDS if the process dies mid-render.

A hit costs one round trip to Redis (the page and its versions in one MGET). Storage is
Flask-Caching: Redis (CACHE_REDIS_URL; production defaults it to the rate-limit Redis) so that every
gunicorn worker shares the pages and the versions, or SimpleCache within one process (the default
run). PAGE_CACHE_SECONDS=0 turns the cache off (and the write side with it).

A version is a fresh time_ns() value, never a counter: if Redis evicts or loses one, the next cannot
repeat an old number (whose pages may still be stored); while one is missing, pages depending on it
are rendered and not stored, and the first lookup sets a new one. Redis away (stopped, or hung: every
call gives up after half a second) is a miss, never an error page: the page is rendered as if there
were no cache, with a warning in the log. After a failure the process leaves Redis alone for
PAGE_CACHE_RETRY_SECONDS (no request waits on it meanwhile), then sets a new "all" before it uses the
cache again: writes made meanwhile could not say so, and a page stored before them must not be served.
"""
import hashlib
import logging
import time
from collections.abc import Callable, Iterable

from flask import current_app, g, has_app_context, has_request_context, request, session
from flask_caching import Cache
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter
from sqlalchemy.sql.schema import Column

from crowdfund.unit_of_work import after_commit

ALL, LISTINGS = "all", "listings"
CAMPAIGN_ENDPOINTS = frozenset({"campaigns.show", "campaigns.widget", "updates.index"})
LISTING_ENDPOINTS = frozenset({"discovery.home", "discovery.discover", "discovery.search"})
CACHED_ENDPOINTS = CAMPAIGN_ENDPOINTS | LISTING_ENDPOINTS
VERSION_PREFIX = "ver:"
CLAIM_SECONDS = 10
# What this request found: its key and the versions it read; whether it was answered from the cache;
# whether it holds the claim to render its page.
KEY_ENVIRON, HIT_ENVIRON, CLAIM_ENVIRON = "crowdfund.page_cache_key", "crowdfund.page_cache_hit", "crowdfund.page_cache_claim"
# This request's page changes with the clock by the hour or slower; what it is built on is fresh until then.
SLOW_CLOCK_ENVIRON, FRESH_UNTIL_ENVIRON = "crowdfund.page_cache_slow_clock", "crowdfund.page_cache_fresh_until"
# Response headers that belong to one response, never to a stored page.
PER_RESPONSE_HEADERS = frozenset({"set-cookie", "x-request-id", "content-length"})


def campaign_version(slug: str) -> str:
    """The version every page of the campaign with this slug depends on."""
    return f"c:{slug}"


def register(app) -> None:
    seconds = app.config.get("PAGE_CACHE_SECONDS", 0)
    if not seconds:
        return
    stale_seconds = app.config.get("PAGE_CACHE_STALE_SECONDS", 60)
    retry_seconds = float(app.config.get("PAGE_CACHE_RETRY_SECONDS", 5))
    slow_seconds = max(int(app.config.get("PAGE_CACHE_SLOW_CLOCK_SECONDS", seconds)), seconds)
    settings = {"CACHE_DEFAULT_TIMEOUT": slow_seconds + stale_seconds,
                "CACHE_KEY_PREFIX": app.config.get("PAGE_CACHE_PREFIX", "crowdfund:")}
    if app.config.get("CACHE_REDIS_URL"):
        settings.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=app.config["CACHE_REDIS_URL"],
                        CACHE_OPTIONS={"socket_timeout": 0.5, "socket_connect_timeout": 0.5})
    else:
        settings.update(CACHE_TYPE="SimpleCache", CACHE_THRESHOLD=5000)
    cache = Cache()
    cache.init_app(app, config=settings)
    app.extensions["crowdfund_page_cache"] = PageCache(app.extensions["cache"][cache], seconds,
                                                       shared=bool(app.config.get("CACHE_REDIS_URL")),
                                                       retry_seconds=retry_seconds, slow_seconds=slow_seconds)
    # Registered last (create_app): the other before_request functions (the request id) run first,
    # and every after_request one (security headers, a fresh request id) runs on a hit too.
    app.before_request(serve_from_cache)
    app.after_request(store_in_cache)
    app.teardown_request(release_claim)


def _now() -> float:
    return time.time()


class PageCache:
    """The cachelib backend, and the versions: in Redis when the cache is shared between processes,
    else in this object. Also what this process learnt of campaign slugs (a campaign's slug never
    changes), so that a write names its campaign's version without asking the database."""

    def __init__(self, backend, seconds: int, shared: bool, retry_seconds: float = 5, slow_seconds: int | None = None):
        self.backend, self.seconds, self.shared, self.retry_seconds = backend, seconds, shared, retry_seconds
        self.slow_seconds = slow_seconds or seconds
        self._local: dict[str, int] = {}
        self.slugs: dict[int, str] = {}  # campaign id -> slug
        self._down_until = None  # while Redis is taken as away: the monotonic time to try it again

    def failed(self) -> None:
        """A call to Redis failed: leave it alone for retry_seconds."""
        self._down_until = time.monotonic() + self.retry_seconds

    def available(self) -> bool:
        """False while Redis is taken as away. When its time is up, a new "all" first (pages stored
        before the writes made meanwhile must not be served); False again if that fails."""
        down_until = self._down_until
        if down_until is None:
            return True
        if time.monotonic() < down_until:
            return False
        try:
            self.bump([ALL])
        except Exception:
            self.failed()
            return False
        self._down_until = None
        logging.getLogger(__name__).info("Page cache reachable again")
        return True

    def lookup(self, key: str, names: tuple[str, ...]) -> tuple[tuple, object]:
        """(the current values of the versions named, the entry stored under key or None), in one
        round trip. A version that does not exist yet is set now."""
        if not self.shared:
            now = time.time_ns()
            return tuple(self._local.setdefault(name, now) for name in names), self.backend.get(key)
        stored, *versions = self.backend.get_many(key, *(VERSION_PREFIX + name for name in names))
        for index, (name, value) in enumerate(zip(names, versions)):
            if value is None:  # never set, or lost: a new value (a new number, so no old page matches)
                fresh = time.time_ns()
                added = self.backend.add(VERSION_PREFIX + name, fresh, timeout=0)  # only if still none
                versions[index] = fresh if added else self.backend.get(VERSION_PREFIX + name)
        return tuple(versions), stored

    def bump(self, names: Iterable[str]) -> None:
        """New values for the versions named: whatever depends on them is stale."""
        value = time.time_ns()
        if self.shared:
            self.backend.set_many({VERSION_PREFIX + name: value for name in names}, timeout=0)
        else:
            self._local.update(dict.fromkeys(names, value))

    def claim(self, key) -> bool:
        """True for the one request that gets to render key's page; False while another has it."""
        if self.shared:
            # One atomic SET NX EX: cachelib's add() is SETNX then EXPIRE, and a process dying between
            # the two would leave a claim that never ends (the page then stale until it drops out).
            client = self.backend._write_client
            return bool(client.set(self.backend._get_prefix() + "claim:" + key, 1, nx=True, ex=CLAIM_SECONDS))
        return bool(self.backend.add("claim:" + key, 1, timeout=CLAIM_SECONDS))

    def release(self, key) -> None:
        self.backend.delete("claim:" + key)

    def store(self, key, versions, *content) -> float:
        """Store content made under versions, fresh until the time returned (this request's: see
        slow_clock; a page built on a stored fragment is fresh as long as that fragment)."""
        fresh_until = request.environ.get(FRESH_UNTIL_ENVIRON) if has_request_context() else None
        if fresh_until is None:
            slow = has_request_context() and request.environ.get(SLOW_CLOCK_ENVIRON)
            fresh_until = _now() + (self.slow_seconds if slow else self.seconds)
        self.backend.set(key, (versions, fresh_until, *content))
        return fresh_until


def slow_clock() -> None:
    """Said by a view whose page's clock-driven text changes by the hour or slower ("20 days left",
    an end date): it stays fresh PAGE_CACHE_SLOW_CLOCK_SECONDS instead of PAGE_CACHE_SECONDS (writes
    make it stale at once either way)."""
    request.environ[SLOW_CLOCK_ENVIRON] = True


def usable(stored, versions) -> bool:
    """Whether a stored entry may be served as it is: made under the versions current now (all known),
    and its seconds not up."""
    return stored is not None and None not in versions and stored[0] == versions and _now() < stored[1]


def _cache() -> PageCache | None:
    return current_app.extensions.get("crowdfund_page_cache") if has_app_context() else None


def _unreachable(cache: PageCache, what: str = "pages are rendered without it") -> None:
    cache.failed()
    current_app.logger.warning("Page cache unreachable: %s", what, exc_info=True)


def _anonymous() -> bool:
    if request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")):
        return False
    return "_user_id" not in session and "_flashes" not in session


def page_key() -> str:
    """The key of this request's page: its language, and its scheme, host and path with the query
    string. Links on a page come from PUBLIC_URL and other hosts are refused (TRUSTED_HOSTS); the
    host is in the key anyway, so that no page made for one host is ever served on another."""
    from crowdfund.i18n import select_locale

    url = f"{request.scheme}://{request.host.lower()}{request.full_path}"
    path = hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"page:{select_locale()}:{path}"


def request_versions() -> tuple[str, ...]:
    """The versions this request's page depends on, from its URL alone."""
    if request.endpoint in CAMPAIGN_ENDPOINTS:
        return ALL, campaign_version((request.view_args or {}).get("slug", ""))
    return ALL, LISTINGS


def _answer(stored, how: str):
    request.environ[HIT_ENVIRON] = True
    _versions, _fresh_until, status, headers, body = stored
    response = current_app.response_class(body, status=status, headers=headers)
    response.headers["X-Page-Cache"] = how
    return response


def serve_from_cache():
    cache = _cache()
    if cache is None or request.method != "GET" or request.endpoint not in CACHED_ENDPOINTS or not _anonymous():
        return None
    if not cache.available():
        return None  # Redis failed a moment ago: render the page, do not wait on it
    key = page_key()
    try:
        versions, stored = cache.lookup(key, request_versions())
    except Exception:  # a cache that is down is a miss, never an error page
        _unreachable(cache)
        return None
    # Kept in the request's environ, not on g: g lives as long as the app context, which a test (or
    # a command) may keep across many requests.
    request.environ[KEY_ENVIRON] = (key, versions)
    if usable(stored, versions):
        return _answer(stored, "hit")
    try:
        claimed = cache.claim(key)
    except Exception:
        _unreachable(cache)
        return None
    if claimed:
        request.environ[CLAIM_ENVIRON] = True
        return None  # this request renders the page and stores it
    if stored is not None:
        return _answer(stored, "stale")  # another request is rendering it right now
    return None  # nothing stored to fall back on: render it here as well


def store_in_cache(response):
    found = request.environ.get(KEY_ENVIRON)
    if found is None or request.environ.get(HIT_ENVIRON):
        return response
    key, versions = found
    cacheable = (response.status_code == 200 and not response.direct_passthrough and not response.is_streamed
                 and "Set-Cookie" not in response.headers and "csrf_token" not in g and _anonymous()
                 and None not in versions)
    if cacheable:
        headers = [(name, value) for name, value in response.headers.items()
                   if name.lower() not in PER_RESPONSE_HEADERS and name != "X-Page-Cache"]
        cache = _cache()
        try:
            cache.store(key, versions, response.status_code, headers, response.get_data())
        except Exception:
            _unreachable(cache)
        response.headers["X-Page-Cache"] = "miss"
    release_claim()
    return response


def release_claim(error=None) -> None:
    """End this request's claim (after its page is stored, or when its render failed)."""
    if not request.environ.pop(CLAIM_ENVIRON, False):
        return
    cache = _cache()
    try:
        cache.release(request.environ[KEY_ENVIRON][0])
    except Exception:
        _unreachable(cache, f"a claim lasts {CLAIM_SECONDS} s")


def fragment(name: str, versions: tuple[str, ...], render: Callable[[], tuple[object, bool]]):
    """The part of a page that is the same for every viewer it is made for: stored under name (and
    the language) until one of versions (or "all") changes or PAGE_CACHE_SECONDS pass, made by
    render() when it is not stored — by one request at a time, the others meanwhile getting the last
    one made. render() returns (the part, whether it may be stored); the part must be picklable and
    hold nothing of the viewer: no CSRF token, no name, no "you backed this". Without a cache (or
    with Redis away) it is render()'s part."""
    from crowdfund.i18n import select_locale

    cache = _cache()
    if cache is None or not cache.available():
        return render()[0]
    key = f"fragment:{select_locale()}:{name}"
    try:
        current, stored = cache.lookup(key, (ALL, *versions))
        if usable(stored, current):
            request.environ[FRESH_UNTIL_ENVIRON] = stored[1]
            return stored[2]
        claimed = cache.claim(key)
    except Exception:
        _unreachable(cache)
        return render()[0]
    if not claimed and stored is not None:
        return stored[2]
    try:
        made, storable = render()
    finally:
        if claimed:
            try:
                cache.release(key)
            except Exception:
                _unreachable(cache, f"a claim lasts {CLAIM_SECONDS} s")
    if storable and None not in current:
        try:
            request.environ[FRESH_UNTIL_ENVIRON] = cache.store(key, current, made)
        except Exception:
            _unreachable(cache)
    return made


def bump_versions(names: Iterable[str]) -> None:
    """Make every stored page and fragment depending on these versions stale (after a write)."""
    cache = _cache()
    names = set(names)
    if cache is None or not names or not cache.available():
        return  # Redis is away: it gets a new "all" when it is used again
    try:
        cache.bump(names)
    except Exception:
        _unreachable(cache, 'a new "all" is set when it answers again')


# --- What a write touches ---------------------------------------------------------------------------

# Tables no cached page shows: writing them makes nothing stale. (Follows and reports are the viewer's
# own state, shown around the cached body; risk scores and the audit log only to moderators.)
NOT_SHOWN = frozenset({
    "login_session", "email_delivery", "outbox_event", "audit_entry", "stripe_event", "charge_attempt",
    "refund_attempt", "risk_assessment", "risk_history_point", "risk_clearance", "story_band",
    "story_signature", "credit_history_point", "follow", "comment_report", "campaign_report",
    "business_details", "payout_account",
})
# Tables whose rows the listings show (a card's title, cover, totals, time left).
LISTED = frozenset({"campaign", "pledge"})
# Columns of a user that a public page shows (a founder's name, bio and picture); the others (email,
# password, preferences …) touch nothing.
PUBLIC_USER_COLUMNS = frozenset({"display_name", "bio", "avatar_id"})
# Rows that belong to a campaign through another row: table -> (parent table, column naming the parent).
THROUGH = {"spend_report": ("campaign_update", "update_id")}
TOUCHED = "crowdfund.page_cache_touched"


def _touch(session, names: Iterable[str]) -> None:
    touched = session.info.get(TOUCHED)
    if touched is None:
        touched = session.info[TOUCHED] = set()
        after_commit(lambda: bump_versions(session.info.pop(TOUCHED, ())), session=session, key="page-cache-versions")
    touched.update(names)


def _campaign_names(session, cache: PageCache, ids: Iterable[int], listed: bool) -> set[str]:
    """Versions of the campaigns with these ids (slugs learnt, else asked in this transaction)."""
    from crowdfund.campaigns.models import Campaign

    ids = {i for i in ids if i is not None}
    for campaign_id in ids:
        loaded = _loaded(session, "campaign", campaign_id)
        if campaign_id not in cache.slugs and loaded is not None and loaded.__dict__.get("slug"):
            cache.slugs[campaign_id] = loaded.slug
    unknown = [i for i in ids if i not in cache.slugs]
    if unknown:
        for campaign_id, slug in session.connection().execute(
                select(Campaign.id, Campaign.slug).where(Campaign.id.in_(unknown))):
            cache.slugs[campaign_id] = slug
    names = {campaign_version(cache.slugs[i]) for i in ids if i in cache.slugs}
    if listed and ids:
        names.add(LISTINGS)
    return names


def _founder_names(session, cache: PageCache, user_ids: Iterable[int]) -> set[str]:
    """A founder's name, picture and score are on each of their campaigns' pages and cards."""
    from crowdfund.campaigns.models import Campaign

    user_ids = {i for i in user_ids if i is not None}
    if not user_ids:
        return set()
    rows = session.connection().execute(select(Campaign.id, Campaign.slug).where(Campaign.founder_id.in_(user_ids)))
    names = set()
    for campaign_id, slug in rows:
        cache.slugs[campaign_id] = slug
        names |= {campaign_version(slug), LISTINGS}
    return names


def _owner_campaigns(session, table_name: str, ids: Iterable[int]) -> set[int]:
    """Campaign ids of the rows of table_name with these ids: from the session's objects when loaded,
    else one query."""
    from crowdfund.extensions import db

    table = db.metadata.tables[table_name]
    found, missing = set(), []
    for row_id in ids:
        obj = _loaded(session, table_name, row_id)
        value = obj.__dict__.get("campaign_id") if obj is not None else None
        (found.add(value) if value is not None else missing.append(row_id))
    if missing:
        found.update(session.connection().execute(select(table.c.campaign_id).where(table.c.id.in_(missing))).scalars())
    return found


def _loaded(session, table_name: str, row_id):
    """The session's object for that row, if it holds one (no query)."""
    from crowdfund.extensions import db

    classes = _classes_by_table(db)
    if table_name not in classes or row_id is None:
        return None
    return session.identity_map.get(inspect(classes[table_name]).identity_key_from_primary_key([row_id]))


def _classes_by_table(db) -> dict:
    if not _CLASSES:
        _CLASSES.update({mapper.local_table.name: mapper.class_ for mapper in db.Model.registry.mappers
                         if getattr(mapper.local_table, "name", None)})
    return _CLASSES


_CLASSES: dict = {}


def _names_for_object(session, cache: PageCache, obj, is_new: bool) -> set[str]:
    table = getattr(type(obj), "__table__", None)
    name = table.name if table is not None else None
    if name in NOT_SHOWN:
        return set()
    if name == "campaign":
        if obj.id is not None and obj.__dict__.get("slug"):
            cache.slugs[obj.id] = obj.slug
        return _campaign_names(session, cache, [obj.id], listed=True)
    if name == "user":
        if is_new:
            return set()  # a new account has no campaign yet
        if not any(inspect(obj).attrs[column].history.has_changes() for column in PUBLIC_USER_COLUMNS):
            return set()
        return _founder_names(session, cache, [obj.id])
    if name == "credit_profile":
        return _founder_names(session, cache, [obj.user_id])
    if table is not None and "campaign_id" in table.c:
        return _campaign_names(session, cache, [obj.campaign_id], listed=name in LISTED)
    if name in THROUGH:
        parent, column = THROUGH[name]
        return _campaign_names(session, cache, _owner_campaigns(session, parent, [getattr(obj, column)]), False)
    return {ALL}


@event.listens_for(Session, "after_flush")
def _flushed(session, flush_context):
    cache = _cache()
    if cache is None:
        return
    names = set()
    for objects, is_new in ((session.new, True), (session.dirty, False), (session.deleted, False)):
        for obj in objects:
            if is_new or obj in session.deleted or session.is_modified(obj, include_collections=False):
                names |= _names_for_object(session, cache, obj, is_new)
    if names:
        _touch(session, names)


def _criteria(statement) -> dict[str, list]:
    """column name -> the values a bulk statement's WHERE pins it to (== or IN with bound values)."""
    found: dict[str, list] = {}
    where = getattr(statement, "whereclause", None)
    if where is None:
        return found
    for element in visitors.iterate(where):
        if not isinstance(element, BinaryExpression) or not isinstance(element.left, Column):
            continue
        right = element.right
        if not isinstance(right, BindParameter):
            continue
        if element.operator is operators.eq:
            found.setdefault(element.left.name, []).append(right.value)
        elif element.operator is operators.in_op and isinstance(right.value, (list, tuple)):
            found.setdefault(element.left.name, []).extend(right.value)
    return found


def _inserted_rows(state) -> list[dict]:
    values = getattr(state.statement, "_values", None)
    if values:
        return [{getattr(column, "key", column): getattr(value, "value", value) for column, value in values.items()}]
    parameters = state.parameters
    if isinstance(parameters, dict):
        return [parameters]
    return list(parameters or [])


def _names_for_statement(state, cache: PageCache) -> set[str]:
    statement = state.statement
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    if name is None:
        return {ALL}
    if name in NOT_SHOWN:
        return set()
    session = state.session
    if state.is_insert:
        rows = _inserted_rows(state)
        if "campaign_id" in table.c and rows and all(row.get("campaign_id") is not None for row in rows):
            return _campaign_names(session, cache, [row["campaign_id"] for row in rows], listed=name in LISTED)
        return {ALL}
    pinned = _criteria(statement)
    if name == "campaign" and pinned.get("id"):
        return _campaign_names(session, cache, pinned["id"], listed=True)
    if name == "user":
        changed = {getattr(column, "key", column) for column in (getattr(statement, "_values", None) or {})}
        if state.is_update and changed and not changed & PUBLIC_USER_COLUMNS:
            return set()
        return _founder_names(session, cache, pinned["id"]) if pinned.get("id") else {ALL}
    if "campaign_id" in table.c:
        if pinned.get("campaign_id"):
            return _campaign_names(session, cache, pinned["campaign_id"], listed=name in LISTED)
        if pinned.get("id"):
            return _campaign_names(session, cache, _owner_campaigns(session, name, pinned["id"]), listed=name in LISTED)
    return {ALL}


@event.listens_for(Session, "do_orm_execute")
def _executed(state):
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    cache = _cache()
    if cache is None:
        return
    names = _names_for_statement(state, cache)
    if names:
        _touch(state.session, names)


@event.listens_for(Session, "after_rollback")
def _forget(session):
    session.info.pop(TOUCHED, None)
