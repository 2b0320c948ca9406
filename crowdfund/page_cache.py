"""Whole-page cache for anonymous visitors: the public pages a viral campaign sends crowds to.

Only GETs of the endpoints in CACHED_ENDPOINTS, only for a visitor who is not logged in (no user
and no flash message in the session, no remember-me cookie), and only a 200 response that sets no
cookie and holds no CSRF token is stored. Everyone else gets the page made for them, as before.

Invalidation is by generation: every stored page carries the generation number it was made under,
and any database transaction that wrote something (an ORM flush, or an INSERT/UPDATE/DELETE through
the session) sets a new generation when it commits — in a web worker, a Celery worker or a command
alike. So after a pledge, an update, a moderator's decision or a closed deadline, the next visitor
sees a new page; nothing needs to know which pages a write touches. Pages that change with the clock
alone ("3 days left", a deadline just passed before the job ran) are fresh for PAGE_CACHE_SECONDS.

One page at a time is made again: when a page is stale (a write, or its seconds are up), the first
visitor claims it and renders it, and the visitors who arrive while that render runs get the last
stored page ("X-Page-Cache: stale", at most PAGE_CACHE_STALE_SECONDS past its time) instead of
rendering it too. Without this, a popular page whose time ran out was rendered by every request in
flight at once, and those requests stalled for 150-180 ms (docs/benchmarks.md). A claim lasts
until its render ends, or CLAIM_SECONDS if the process dies mid-render.

A hit costs one round trip to Redis (the generation and the page in one MGET). Storage is
Flask-Caching: Redis (CACHE_REDIS_URL; production defaults it to the rate-limit Redis) so that every
gunicorn worker shares the pages and the generation, or SimpleCache within one process (the default
run). PAGE_CACHE_SECONDS=0 turns the cache off.

Redis away (stopped, or hung: every call gives up after half a second) is a miss, never an error page:
the page is rendered as if there were no cache, with a warning in the log. After a failure the process
leaves Redis alone for PAGE_CACHE_RETRY_SECONDS (no request waits on it meanwhile), then makes a new
generation before it uses the cache again: writes made meanwhile could not say so, and a page stored
before them must not be served.
"""
import hashlib
import logging
import time

from flask import current_app, g, has_app_context, request, session
from flask_caching import Cache
from sqlalchemy import event
from sqlalchemy.orm import Session

from crowdfund.unit_of_work import after_commit

CACHED_ENDPOINTS = frozenset({
    "discovery.home", "discovery.discover", "discovery.search", "campaigns.show", "campaigns.widget",
    "updates.index",
})
GENERATION_KEY = "page-generation"
CLAIM_SECONDS = 10
# What this request found: its key and generation; whether it was answered from the cache; whether
# it holds the claim to render its page.
KEY_ENVIRON, HIT_ENVIRON, CLAIM_ENVIRON = "crowdfund.page_cache_key", "crowdfund.page_cache_hit", "crowdfund.page_cache_claim"
# Response headers that belong to one response, never to a stored page.
PER_RESPONSE_HEADERS = frozenset({"set-cookie", "x-request-id", "content-length"})


def register(app) -> None:
    seconds = app.config.get("PAGE_CACHE_SECONDS", 0)
    if not seconds:
        return
    stale_seconds = app.config.get("PAGE_CACHE_STALE_SECONDS", 60)
    retry_seconds = float(app.config.get("PAGE_CACHE_RETRY_SECONDS", 5))
    settings = {"CACHE_DEFAULT_TIMEOUT": seconds + stale_seconds,
                "CACHE_KEY_PREFIX": app.config.get("PAGE_CACHE_PREFIX", "crowdfund:")}
    if app.config.get("CACHE_REDIS_URL"):
        settings.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=app.config["CACHE_REDIS_URL"],
                        CACHE_OPTIONS={"socket_timeout": 0.5, "socket_connect_timeout": 0.5})
    else:
        settings.update(CACHE_TYPE="SimpleCache", CACHE_THRESHOLD=2000)
    cache = Cache()
    cache.init_app(app, config=settings)
    app.extensions["crowdfund_page_cache"] = PageCache(app.extensions["cache"][cache], seconds,
                                                       shared=bool(app.config.get("CACHE_REDIS_URL")),
                                                       retry_seconds=retry_seconds)
    # Registered last (create_app): the other before_request functions (the request id) run first,
    # and every after_request one (security headers, a fresh request id) runs on a hit too.
    app.before_request(serve_from_cache)
    app.after_request(store_in_cache)
    app.teardown_request(release_claim)


def _now() -> float:
    return time.time()


class PageCache:
    """The cachelib backend, and the generation: in Redis when the cache is shared between
    processes, else in this object. A generation is a fresh time_ns() value, never a counter: if
    Redis evicts or loses it, the next one cannot repeat an old number (whose pages may still be
    stored); while it is missing nothing is served from or stored in the cache."""

    def __init__(self, backend, seconds: int, shared: bool, retry_seconds: float = 5):
        self.backend, self.seconds, self.shared, self.retry_seconds = backend, seconds, shared, retry_seconds
        self._local = time.time_ns()
        self._down_until = None  # while Redis is taken as away: the monotonic time to try it again
        if shared:
            try:
                backend.add(GENERATION_KEY, self._local, timeout=0)  # only if there is none yet
            except Exception:
                logging.getLogger(__name__).warning("Page cache unreachable at start", exc_info=True)
                self.failed()

    def failed(self) -> None:
        """A call to Redis failed: leave it alone for retry_seconds."""
        self._down_until = time.monotonic() + self.retry_seconds

    def available(self) -> bool:
        """False while Redis is taken as away. When its time is up, a new generation first (pages
        stored before the writes made meanwhile must not be served); False again if that fails."""
        down_until = self._down_until
        if down_until is None:
            return True
        if time.monotonic() < down_until:
            return False
        try:
            self.bump()
        except Exception:
            self.failed()
            return False
        self._down_until = None
        logging.getLogger(__name__).info("Page cache reachable again")
        return True

    def generation(self):
        return self.backend.get(GENERATION_KEY) if self.shared else self._local

    def lookup(self, key) -> tuple:
        """(the current generation, the page stored under key or None), in one round trip."""
        if self.shared:
            generation, stored = self.backend.get_many(GENERATION_KEY, key)
            return generation, stored
        return self._local, self.backend.get(key)

    def bump(self) -> None:
        value = time.time_ns()
        if self.shared:
            self.backend.set(GENERATION_KEY, value, timeout=0)
        else:
            self._local = value

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

    def store(self, key, generation, status, headers, body) -> None:
        self.backend.set(key, (generation, _now() + self.seconds, status, headers, body))


def _cache() -> PageCache | None:
    return current_app.extensions.get("crowdfund_page_cache") if has_app_context() else None


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


def _answer(stored, how: str):
    request.environ[HIT_ENVIRON] = True
    _generation, _fresh_until, status, headers, body = stored
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
        generation, stored = cache.lookup(key)
    except Exception:  # a cache that is down is a miss, never an error page
        cache.failed()
        current_app.logger.warning("Page cache unreachable: pages are rendered without it", exc_info=True)
        return None
    if generation is None:
        return None  # lost (Redis evicted or restarted): nothing is served or stored until a write
    # Kept in the request's environ, not on g: g lives as long as the app context, which a test (or
    # a command) may keep across many requests.
    request.environ[KEY_ENVIRON] = (key, generation)
    if stored is not None and stored[0] == generation and _now() < stored[1]:
        return _answer(stored, "hit")
    try:
        claimed = cache.claim(key)
    except Exception:
        cache.failed()
        current_app.logger.warning("Page cache unreachable: pages are rendered without it", exc_info=True)
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
    cacheable = (response.status_code == 200 and not response.direct_passthrough and not response.is_streamed
                 and "Set-Cookie" not in response.headers and "csrf_token" not in g and _anonymous())
    if cacheable:
        key, generation = found
        headers = [(name, value) for name, value in response.headers.items()
                   if name.lower() not in PER_RESPONSE_HEADERS and name != "X-Page-Cache"]
        cache = _cache()
        try:
            cache.store(key, generation, response.status_code, headers, response.get_data())
        except Exception:
            cache.failed()
            current_app.logger.warning("Page cache unreachable: pages are rendered without it", exc_info=True)
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
        cache.failed()
        current_app.logger.warning("Page cache unreachable: a claim lasts %s s", CLAIM_SECONDS, exc_info=True)


def bump_generation() -> None:
    """Make every stored page stale (after a write)."""
    cache = _cache()
    if cache is None or not cache.available():
        return  # Redis is away: it gets a new generation when it is used again
    try:
        cache.bump()
    except Exception:
        cache.failed()
        current_app.logger.warning("Page cache unreachable: a new generation is made when it answers again",
                                   exc_info=True)


def _bump_after_commit(session) -> None:
    # Once per transaction, however many writes; a rolled-back transaction bumps nothing.
    after_commit(bump_generation, session=session, key="page-cache-generation")


@event.listens_for(Session, "after_flush")
def _flushed(session, flush_context):
    _bump_after_commit(session)


@event.listens_for(Session, "do_orm_execute")
def _executed(state):
    if state.is_insert or state.is_update or state.is_delete:
        _bump_after_commit(state.session)
