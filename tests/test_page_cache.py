"""The whole-page cache for visitors who are not logged in (crowdfund/page_cache.py): hits are
served without touching the database, and no one ever sees a page older than the last write."""
import os
import uuid
from datetime import timedelta

import pytest

from crowdfund import create_app, page_cache
from crowdfund.clock import utcnow
from crowdfund.ticker import run_periodic_jobs

pytestmark = pytest.mark.page_cache


def test_a_visitor_gets_the_stored_page_without_a_query(client, make_campaign, count_queries):
    campaign = make_campaign(state="live", title="Community bakery oven")
    first = client.get(f"/c/{campaign.slug}")

    with count_queries() as statements:
        second = client.get(f"/c/{campaign.slug}")

    assert first.headers["X-Page-Cache"] == "miss" and second.headers["X-Page-Cache"] == "hit"
    assert second.get_data() == first.get_data() and "Community bakery oven" in second.get_data(as_text=True)
    assert statements == []


def test_a_hit_has_its_own_request_id_and_every_security_header(client, make_campaign):
    campaign = make_campaign(state="live")
    first = client.get(f"/c/{campaign.slug}")
    second = client.get(f"/c/{campaign.slug}")

    assert second.headers["X-Page-Cache"] == "hit"
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
        assert second.headers[header] == first.headers[header]
    assert "Set-Cookie" not in second.headers


def test_a_new_pledge_shows_at_once(client, make_campaign, make_pledge):
    campaign = make_campaign(state="live", goal=100_000)
    assert "$0" in client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert client.get(f"/c/{campaign.slug}").headers["X-Page-Cache"] == "hit"

    make_pledge(campaign, amount=42_000)
    page = client.get(f"/c/{campaign.slug}")

    assert page.headers["X-Page-Cache"] == "miss"
    assert "$420" in page.get_data(as_text=True)


def test_a_closed_campaign_leaves_the_discover_page_at_once(client, make_campaign):
    campaign = make_campaign(state="live", title="Closing soon kiln")
    assert "Closing soon kiln" in client.get("/discover").get_data(as_text=True)
    assert client.get("/discover").headers["X-Page-Cache"] == "hit"

    run_periodic_jobs(campaign.deadline + timedelta(minutes=1))  # what beat or the ticker runs

    assert "Closing soon kiln" not in client.get("/discover").get_data(as_text=True)


def _claim(app, url) -> str:
    """Act as another request that is rendering url's page right now; returns the page's key."""
    with app.test_request_context(url):
        key = page_cache.page_key()
        assert app.extensions["crowdfund_page_cache"].claim(key)
    return key


def test_while_one_visitor_renders_a_stale_page_the_others_get_the_last_one(app, client, make_campaign, make_pledge,
                                                                           count_queries):
    """A write makes the page stale; the crowd arriving while the first visitor renders it again gets
    the page as it was a moment ago, without a query, instead of every one of them rendering it."""
    campaign = make_campaign(state="live", goal=100_000)
    url = f"/c/{campaign.slug}"
    before = client.get(url)
    make_pledge(campaign, amount=42_000)
    key = _claim(app, url)

    with count_queries() as statements:
        during = [client.get(url) for _ in range(3)]
    app.extensions["crowdfund_page_cache"].release(key)  # that render has ended
    after = client.get(url)

    assert statements == []
    assert all(page.headers["X-Page-Cache"] == "stale" and page.get_data() == before.get_data() for page in during)
    assert after.headers["X-Page-Cache"] == "miss" and "$420" in after.get_data(as_text=True)
    assert client.get(url).headers["X-Page-Cache"] == "hit"


@pytest.mark.parametrize("hours_left, setting", [(24 * 20, "PAGE_CACHE_SLOW_CLOCK_SECONDS"),
                                                 (0.5, "PAGE_CACHE_SECONDS")])
def test_a_page_whose_time_is_up_is_rendered_once_then_fresh_again(app, client, make_campaign, monkeypatch,
                                                                   hours_left, setting):
    """A page's "time left" is kept fresh: by the minute in a campaign's last hour, for minutes when it
    counts days or hours (writes make it stale at once either way)."""
    campaign = make_campaign(state="live", title="Harbour sauna", duration_days=30,
                             launched_at=utcnow() - timedelta(days=30) + timedelta(hours=hours_left))
    url = f"/c/{campaign.slug}"
    client.get(url)
    assert client.get(url).headers["X-Page-Cache"] == "hit"
    now = page_cache._now()
    monkeypatch.setattr(page_cache, "_now", lambda: now + app.config[setting] - 2)
    assert client.get(url).headers["X-Page-Cache"] == "hit"
    monkeypatch.setattr(page_cache, "_now", lambda: now + app.config[setting] + 1)

    first = client.get(url)
    second = client.get(url)

    assert [first.headers["X-Page-Cache"], second.headers["X-Page-Cache"]] == ["miss", "hit"]
    assert "Harbour sauna" in second.get_data(as_text=True)


def test_a_page_nobody_has_stored_is_rendered_even_while_claimed(app, client, make_campaign):
    """With nothing stored to fall back on, a visitor never waits for another's render."""
    campaign = make_campaign(state="live", title="First night bistro")
    _claim(app, f"/c/{campaign.slug}")

    page = client.get(f"/c/{campaign.slug}")

    assert page.status_code == 200 and "First night bistro" in page.get_data(as_text=True)


def test_a_render_that_fails_gives_up_its_claim(app, client, make_campaign, make_pledge, monkeypatch):
    """A page whose render raised is rendered again by the next visitor, not left stale for others."""
    import crowdfund.personal as campaign_routes  # where the campaign page's body and shell are rendered

    campaign = make_campaign(state="live", goal=100_000)
    url = f"/c/{campaign.slug}"
    client.get(url)
    make_pledge(campaign, amount=31_000)
    real_render = campaign_routes.render_template

    def broken_render(*args, **kwargs):
        raise RuntimeError("template blew up")

    monkeypatch.setattr(campaign_routes, "render_template", broken_render)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # as in production: a 500 page
    assert client.get(url).status_code == 500
    monkeypatch.setattr(campaign_routes, "render_template", real_render)
    page = client.get(url)

    assert page.headers["X-Page-Cache"] == "miss" and "$310" in page.get_data(as_text=True)


def test_logged_in_people_never_get_a_stored_page(client, login, make_campaign, make_user):
    campaign = make_campaign(state="live")
    client.get(f"/c/{campaign.slug}")
    assert client.get(f"/c/{campaign.slug}").headers["X-Page-Cache"] == "hit"

    owner = login(campaign.founder)
    page = owner.get(f"/c/{campaign.slug}")

    assert "X-Page-Cache" not in page.headers
    assert f'action="/c/{campaign.slug}/' in page.get_data(as_text=True) or "Edit" in page.get_data(as_text=True)
    assert "X-Page-Cache" not in login(make_user()).get(f"/c/{campaign.slug}").headers


def test_a_page_with_a_flash_message_is_neither_stored_nor_served_to_others(app, make_user):
    visitor, other = app.test_client(), app.test_client()
    with visitor.session_transaction() as session:
        session["_flashes"] = [("info", "You are logged out.")]

    flashed = visitor.get("/")
    assert "You are logged out." in flashed.get_data(as_text=True)
    assert "X-Page-Cache" not in flashed.headers

    page = other.get("/")
    assert "You are logged out." not in page.get_data(as_text=True)
    assert page.headers["X-Page-Cache"] == "miss"


def test_a_visitor_with_a_csrf_token_never_has_it_stored_for_others(csrf_app, make_campaign):
    """A page showing one visitor's CSRF token must never reach another visitor."""
    campaign = make_campaign(state="live")
    visitor = csrf_app.test_client()
    visitor.get("/login")  # now the visitor's session holds a CSRF token
    visitor.get(f"/c/{campaign.slug}")

    for client in (visitor, csrf_app.test_client()):
        page = client.get(f"/c/{campaign.slug}").get_data(as_text=True)
        assert "csrf_token" not in page


def test_only_public_get_pages_are_stored(client, make_campaign):
    campaign = make_campaign(state="draft")

    assert client.get(f"/c/{campaign.slug}").status_code == 404
    assert "X-Page-Cache" not in client.get(f"/c/{campaign.slug}").headers  # errors are not stored
    assert "X-Page-Cache" not in client.get("/login").headers
    assert "X-Page-Cache" not in client.get("/healthz").headers


def test_search_pages_are_stored_per_query(client, make_campaign):
    make_campaign(state="live", title="Harbour kayak club")
    make_campaign(state="live", title="Orchard cider press")

    assert "Harbour kayak club" in client.get("/search?q=kayak").get_data(as_text=True)
    orchard = client.get("/search?q=cider").get_data(as_text=True)

    assert "Orchard cider press" in orchard and "Harbour kayak club" not in orchard


def test_the_cache_can_be_turned_off(app, make_campaign):
    app.config["PAGE_CACHE_SECONDS"] = 0
    off = create_app({**app.config, "PAGE_CACHE_SECONDS": 0})
    campaign = make_campaign(state="live")

    with off.test_client() as client:
        client.get(f"/c/{campaign.slug}")
        assert "X-Page-Cache" not in client.get(f"/c/{campaign.slug}").headers


def test_an_unreachable_cache_is_a_miss_not_an_error(app, make_campaign):
    broken = create_app({**app.config, "CACHE_REDIS_URL": "redis://127.0.0.1:9/0"})  # nothing listens on 9
    campaign = make_campaign(state="live", title="Still served kiln")

    with broken.app_context():
        client = broken.test_client()
        pages = [client.get(f"/c/{campaign.slug}") for _ in range(2)]

    assert [page.status_code for page in pages] == [200, 200]
    assert all("Still served kiln" in page.get_data(as_text=True) for page in pages)


@pytest.fixture
def redis_url(app):
    url = os.environ.get("CROWDFUND_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CROWDFUND_REQUIRE_SERVICES") == "1":
            pytest.fail("the shared page cache test needs CROWDFUND_TEST_REDIS_URL (CROWDFUND_REQUIRE_SERVICES=1)")
        pytest.skip("the shared page cache test needs CROWDFUND_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    import redis

    # The test's own key prefix: the SQLite and PostgreSQL variants run at once on one Redis database.
    app.config["PAGE_CACHE_PREFIX"] = prefix = f"crowdfund-test-{uuid.uuid4().hex}:"
    yield url.rsplit("/", 1)[0] + "/11"
    client = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/11")
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture
def workers(app, redis_url):
    """Two apps on one Redis, as two gunicorn workers are."""
    return tuple(create_app({**app.config, "CACHE_REDIS_URL": redis_url}) for _ in range(2))


def test_two_workers_share_pages_and_a_write_in_one_refreshes_the_other(workers, make_campaign, make_pledge):
    """A pledge committed in one worker makes the other's stored page stale at once."""
    worker_a, worker_b = workers
    campaign = make_campaign(state="live", goal=100_000)
    url = f"/c/{campaign.slug}"

    with worker_a.app_context():
        assert worker_a.test_client().get(url).headers["X-Page-Cache"] == "miss"
    with worker_b.app_context():
        assert worker_b.test_client().get(url).headers["X-Page-Cache"] == "hit"  # stored by worker A
    with worker_a.app_context():
        make_pledge(campaign, amount=77_000)  # committed in worker A's app
    with worker_b.app_context():
        page = worker_b.test_client().get(url)

    assert page.headers["X-Page-Cache"] == "miss"
    assert "$770" in page.get_data(as_text=True)


def test_a_worker_rendering_a_page_spares_the_other_worker_the_render(app, workers, make_campaign, make_pledge,
                                                                     redis_url, count_queries):
    """The claim is shared through Redis: while worker A renders a stale page, worker B serves the
    last one without a query."""
    import redis

    worker_a, worker_b = workers
    campaign = make_campaign(state="live", goal=100_000)
    url = f"/c/{campaign.slug}"
    with worker_a.app_context():
        worker_a.test_client().get(url)
        make_pledge(campaign, amount=12_000)
        key = _claim(worker_a, url)
    with worker_b.app_context(), count_queries() as statements:
        page = worker_b.test_client().get(url)

    assert page.headers["X-Page-Cache"] == "stale" and "$120" not in page.get_data(as_text=True)
    assert statements == []
    # The claim ends by itself if its worker dies mid-render.
    claim_ttl = redis.Redis.from_url(redis_url).ttl(app.config["PAGE_CACHE_PREFIX"] + "claim:" + key)
    assert 0 < claim_ttl <= page_cache.CLAIM_SECONDS


@pytest.mark.parametrize("lost", ["the campaign's version", "every version"])
def test_a_lost_version_never_brings_old_pages_back(app, workers, make_campaign, make_pledge, redis_url, lost):
    """If Redis loses a version (eviction, restart), no page stored before is served again: the next
    request sets a new one (a new number, never an old one) and renders the page."""
    import redis

    worker = workers[0]
    campaign = make_campaign(state="live", goal=100_000)
    url = f"/c/{campaign.slug}"
    prefix = app.config["PAGE_CACHE_PREFIX"] + page_cache.VERSION_PREFIX
    with worker.app_context():
        client = worker.test_client()
        client.get(url)
        assert client.get(url).headers["X-Page-Cache"] == "hit"
        store = redis.Redis.from_url(redis_url)
        for key in ([prefix + page_cache.campaign_version(campaign.slug)] if lost != "every version"
                    else list(store.scan_iter(prefix + "*"))):
            store.delete(key)

        while_lost = client.get(url)
        make_pledge(campaign, amount=55_000)  # a write sets a new version
        after = [client.get(url) for _ in range(2)]

    assert while_lost.status_code == 200 and while_lost.headers["X-Page-Cache"] == "miss"
    assert "$550" in after[0].get_data(as_text=True)
    assert [page.headers["X-Page-Cache"] for page in after] == ["miss", "hit"]


def test_a_periodic_run_with_nothing_to_do_keeps_the_stored_pages(client, make_campaign, make_user):
    """Beat runs the periodic jobs every minute; when they change nothing, visitors keep getting
    stored pages (a job that wrote every time would empty the cache every minute)."""
    url = f"/c/{make_campaign(state='live').slug}"
    make_user()
    run_periodic_jobs()  # the day's work (the risk review assesses each open campaign once a UTC day)
    client.get(url)

    run_periodic_jobs()

    assert client.get(url).headers["X-Page-Cache"] == "hit"
