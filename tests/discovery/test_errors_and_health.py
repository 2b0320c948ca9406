"""Styled error pages, the health check, and the security headers on every HTML page."""
import pytest

from config import TestingConfig
from crowdfund import create_app


def test_unknown_url_is_a_styled_404_page(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.content_type == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in page
    assert "We could not find that page." in page
    assert 'class="site-header"' in page
    assert 'href="/"' in page  # a way back


def test_wrong_method_is_a_styled_405_page(client):
    response = client.post("/discover")

    assert response.status_code == 405
    assert "Method not allowed" in response.get_data(as_text=True)


def test_healthz_reports_the_database_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "not configured"}


def test_healthz_reports_an_unreachable_database_with_503(tmp_path):
    config = {k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}",
                  INSTANCE_DIR=tmp_path / "instance", UPLOAD_DIR=tmp_path / "uploads")
    app = create_app(config)

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "error", "broker": "not configured"}


@pytest.fixture
def pages(client, auth, make_user, make_campaign):
    """One URL of each kind of HTML page: listings, a campaign, a form, an error, a moderator page."""
    campaign = make_campaign(state="live", title="Header check campaign")
    moderator = make_user(role="moderator")
    return [("/", None), ("/discover", None), ("/search?q=header", None), (f"/c/{campaign.slug}", None),
            ("/login", None), ("/signup", None), ("/no-such-page", None), ("/moderation/", moderator),
            (f"/moderation/campaigns/{campaign.id}", moderator)]


def test_security_headers_are_on_every_html_response(client, auth, pages):
    for url, user in pages:
        if user is not None:
            auth.login(user)
        response = client.get(url)

        assert response.content_type.startswith("text/html"), url
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url
        assert response.headers.get("X-Frame-Options") == "DENY", url


def test_security_headers_are_on_error_pages_and_redirects(client, make_user, auth):
    auth.login(make_user())

    for response in (client.get("/moderation/"), client.get("/no-such-page"), client.post("/discover")):
        assert response.status_code in (403, 404, 405)
        assert "Content-Security-Policy" in response.headers
        assert response.headers.get("X-Content-Type-Options") == "nosniff"
        assert response.headers.get("X-Frame-Options") == "DENY"
