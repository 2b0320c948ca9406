"""Issue 15: no Host header can poison a link (every absolute URL comes from PUBLIC_URL, unknown hosts
get a 400, the page-cache key holds the host), and Cache-Control keeps signed-in pages out of caches."""
import re
import sys
import threading
import urllib.request
from html import unescape
from urllib.parse import unquote

import pytest

from crowdfund import create_app
from crowdfund.extensions import db
from crowdfund.templating import absolute_url
from crowdfund.updates.models import Update

PUBLIC = "http://127.0.0.1:5000"  # TestingConfig's PUBLIC_URL
ABSOLUTE = re.compile(r"""https?://[^\s"'<>&]+""")
SHARE_SITES = ("https://twitter.com/", "https://www.facebook.com/", "https://www.linkedin.com/",
               "https://api.whatsapp.com/", "http://www.w3.org/2005/Atom")


def own_links(text: str) -> list[str]:
    """Every absolute URL in a page (also inside share links' query strings and the embed snippet),
    other than the share sites' own addresses."""
    text = unquote(unescape(unescape(text)))
    return [url for url in ABSOLUTE.findall(text) if not url.startswith(SHARE_SITES)]


@pytest.fixture
def live(make_campaign):
    return make_campaign(state="live", title="Harbour kiln")


# --- Host header -------------------------------------------------------------------------------


@pytest.mark.page_cache
def test_a_host_poisoning_attempt_gets_a_400_and_stores_nothing(client, live):
    poisoned = client.get(f"/c/{live.slug}", headers={"Host": "poison.example"})

    assert poisoned.status_code == 400
    assert "does not answer to that host" in poisoned.get_data(as_text=True)
    assert "poison.example" not in poisoned.get_data(as_text=True)
    assert "X-Page-Cache" not in poisoned.headers
    honest = client.get(f"/c/{live.slug}")
    assert honest.status_code == 200 and honest.headers["X-Page-Cache"] == "miss"  # nothing was stored
    assert "poison.example" not in honest.get_data(as_text=True)


@pytest.mark.page_cache
def test_an_allowed_alias_host_never_puts_its_host_in_links(client, live):
    via_alias = client.get(f"/c/{live.slug}", headers={"Host": "127.0.0.1:8081"})
    via_localhost = client.get(f"/c/{live.slug}")
    widget = client.get(f"/c/{live.slug}/widget", headers={"Host": "127.0.0.1:8081"})

    assert via_alias.status_code == via_localhost.status_code == widget.status_code == 200
    # The host is in the page-cache key: each host made its own page; and both pages are the same.
    assert via_alias.headers["X-Page-Cache"] == via_localhost.headers["X-Page-Cache"] == "miss"
    assert via_alias.get_data() == via_localhost.get_data()
    for response in (via_alias, widget):
        page = response.get_data(as_text=True)
        assert "127.0.0.1:8081" not in page and "localhost" not in page
        assert f"{PUBLIC}/c/{live.slug}" in page
    assert f'src="{PUBLIC}/c/{live.slug}/widget"' in unescape(via_alias.get_data(as_text=True))
    assert f'href="{PUBLIC}/c/{live.slug}/pledge"' in widget.get_data(as_text=True)  # "Back this project"


def test_every_absolute_link_on_the_campaign_page_widget_and_feed_starts_with_public_url(
        app, client, founder, founder_client, make_campaign, stored_image):
    app.config["PUBLIC_URL"] = "https://crowd.example/"
    campaign = make_campaign(founder=founder, state="live")
    founder_client.post(f"/c/{campaign.slug}/updates/new",
                        data={"title": "Oven ordered", "body": "We ordered it.", "visibility": "public"})

    pages = {url: client.get(url, headers={"Host": "localhost:9999"})
             for url in (f"/c/{campaign.slug}", f"/c/{campaign.slug}/widget", f"/c/{campaign.slug}/updates.atom")}

    for url, response in pages.items():
        assert response.status_code == 200, url
        links = own_links(response.get_data(as_text=True))
        assert links, url
        assert all(link.startswith("https://crowd.example/") for link in links), (url, links)
    feed = pages[f"/c/{campaign.slug}/updates.atom"].get_data(as_text=True)
    assert f'<link rel="self" href="https://crowd.example/c/{campaign.slug}/updates.atom"/>' in feed


def test_the_share_image_is_on_public_url(app, client, make_campaign):
    campaign = make_campaign(state="live")
    if campaign.cover is None:
        pytest.skip("the factory's campaign has no cover")
    page = client.get(f"/c/{campaign.slug}", headers={"Host": "localhost:9999"}).get_data(as_text=True)

    image = re.search(r'<meta property="og:image" content="([^"]+)"', page).group(1)
    assert image.startswith(f"{PUBLIC}/media/")


def test_x_forwarded_host_is_ignored_behind_a_proxy(app, live):
    config = {key: app.config[key] for key in app.config if key.isupper()}
    proxied = create_app({**config, "PROXY_COUNT": 1, "PAGE_CACHE_SECONDS": 0})
    client = proxied.test_client()

    response = client.get(f"/c/{live.slug}", headers={"X-Forwarded-Host": "poison.example",
                                                      "X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "poison.example" not in page
    assert f"{PUBLIC}/c/{live.slug}" in page


def test_absolute_url_works_outside_a_request(app):
    app.config["PUBLIC_URL"] = "https://crowd.example/sub/"

    assert absolute_url("campaigns.show", slug="oven") == "https://crowd.example/sub/c/oven"
    assert absolute_url("campaigns.show", slug="oven", _anchor="share") == "https://crowd.example/sub/c/oven#share"


def test_public_url_is_always_a_trusted_host(app):
    assert {"localhost", "127.0.0.1"} <= set(app.config["TRUSTED_HOSTS"])
    other = create_app({**{k: app.config[k] for k in app.config if k.isupper()},
                        "PUBLIC_URL": "https://crowd.example", "TRUSTED_HOSTS": "alias.example"})
    assert other.config["TRUSTED_HOSTS"] == ["alias.example", "crowd.example"]
    client = other.test_client()
    assert client.get("/healthz", headers={"Host": "crowd.example"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "alias.example:8443"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 400


# --- Cache-Control ------------------------------------------------------------------------------


def test_signed_in_pages_are_private_and_not_stored(
        app, login, founder, founder_client, make_campaign, make_user, make_pledge):
    campaign = make_campaign(founder=founder, state="live")
    backer, moderator = make_user(), make_user(role="moderator")
    make_pledge(campaign, backer=backer)
    founder_client.post(f"/c/{campaign.slug}/updates/new",
                        data={"title": "Secret", "body": "For backers.", "visibility": "backers"})
    update = db.session.execute(db.select(Update)).scalar_one()
    backer_client = login(backer)

    responses = {
        "settings": backer_client.get("/me/settings"),
        "pledges": backer_client.get("/me/pledges"),
        "campaign page": backer_client.get(f"/c/{campaign.slug}"),
        "backers-only update": backer_client.get(f"/c/{campaign.slug}/updates/{update.id}"),
        "dashboard": founder_client.get(f"/c/{campaign.slug}/dashboard"),
        "moderation queue": login(moderator).get("/moderation/"),
    }

    for name, response in responses.items():
        assert response.status_code == 200, name
        assert response.headers.get("Cache-Control") == "private, no-store", name


def test_a_page_with_a_csrf_form_is_private_for_visitors_too(csrf_app):
    response = csrf_app.test_client().get("/login")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.page_cache
def test_cached_public_pages_say_so_and_media_keeps_its_header(app, client, login, make_user, live):
    first, second = client.get(f"/c/{live.slug}"), client.get(f"/c/{live.slug}")

    assert first.headers["X-Page-Cache"] == "miss" and second.headers["X-Page-Cache"] == "hit"
    # Any cache may keep it, and must ask again before showing it: the page changes with every write.
    assert first.headers["Cache-Control"] == second.headers["Cache-Control"] == "public, no-cache"
    assert client.get(f"/c/{live.slug}/widget").headers["Cache-Control"] == "public, max-age=60"
    signed_in = login(make_user())
    assert signed_in.get(f"/c/{live.slug}").headers["Cache-Control"] == "private, no-store"
    # Files the same for everyone: kept by the browser, never by a shared cache, for a signed-in user.
    assert signed_in.get(f"/c/{live.slug}/widget").headers["Cache-Control"] == "private, max-age=60"
    assert signed_in.get("/static/css/widget.css").headers["Cache-Control"].startswith("private")
    assert "no-store" not in signed_in.get("/static/css/widget.css").headers["Cache-Control"]
    assert signed_in.get("/media/cover-0123456789abcdef0123456789abcdef-400.jpg").headers[
        "Cache-Control"] == "private, no-store"  # a 404 of the media route


# --- The dev server -------------------------------------------------------------------------------


def test_the_dev_server_links_to_its_own_port_and_names_no_versions(app, monkeypatch):
    from werkzeug.serving import make_server

    from crowdfund import devserver

    monkeypatch.setenv("PUBLIC_URL", "")  # unset (and put back afterwards)
    monkeypatch.setenv("TRUSTED_HOSTS", "")
    devserver.use_server_address(app, "0.0.0.0", 5123)
    assert app.config["PUBLIC_URL"] == "http://127.0.0.1:5123"
    assert "127.0.0.1" in app.config["TRUSTED_HOSTS"]

    server = make_server("127.0.0.1", 0, app, request_handler=devserver.QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=10) as response:
            header = response.headers["Server"]
    finally:
        server.shutdown()
    assert header == "crowdfund"
    assert "Werkzeug" not in header and "Python" not in header and sys.version.split()[0] not in header


# --- Production settings ----------------------------------------------------------------------------


def test_production_lists_trusted_hosts_as_missing_until_set(monkeypatch):
    from config import ProductionConfig

    monkeypatch.setenv("TRUSTED_HOSTS", "")
    assert any(item.startswith("TRUSTED_HOSTS") for item in ProductionConfig.missing_settings())
    monkeypatch.setenv("TRUSTED_HOSTS", "crowd.example")
    assert not any(item.startswith("TRUSTED_HOSTS") for item in ProductionConfig.missing_settings())
    # `flask crowdfund check-config` refusing without it: tests/test_operations.py
