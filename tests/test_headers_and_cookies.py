"""Security headers on every kind of response, cookies as production and development set them, and the
session renewed at log-in and sign-up and ended at log-out (issue 7, part 3)."""
import json
import re
import time

import pytest
import stripe

from config import DevelopmentConfig, ProductionConfig
from crowdfund import create_app
from crowdfund.accounts.models import User
from crowdfund.extensions import db

PASSWORD = "correct horse battery"
ONE_YEAR = 365 * 24 * 3600
# What ProductionConfig sets about cookies and transport security; the rest of the test app's config stays.
PRODUCTION_SETTINGS = ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE", "SESSION_COOKIE_NAME",
                       "REMEMBER_COOKIE_NAME", "HSTS_SECONDS")


@pytest.fixture
def make_app(app):
    """make_app(like=ProductionConfig, **settings) -> an app on the test's database with the
    production (or development) cookie and HSTS settings, CSRF on, plus settings."""
    made = []

    def make(like=ProductionConfig, **settings):
        config = {**app.config, "WTF_CSRF_ENABLED": True}
        for name in PRODUCTION_SETTINGS:
            if hasattr(like, name):
                config[name] = getattr(like, name)
        built = create_app({**config, **settings})
        made.append(built)
        return built

    yield make
    for built in made:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


def _token(response) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _cookies(response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the whole header line)."""
    return {line.split("=", 1)[0]: line for line in response.headers.getlist("Set-Cookie")}


def _attributes(set_cookie: str) -> set[str]:
    """A Set-Cookie line's attributes, without the value and the expiry dates."""
    return {part.strip() for part in set_cookie.split(";")[1:]
            if not part.strip().startswith(("Expires=", "Max-Age="))}


# --- Headers on every kind of response --------------------------------------------------------------

def _signed_webhook(client, secret="whsec_test_secret"):
    payload = json.dumps({"id": f"evt_headers_{time.time_ns()}", "object": "event", "type": "customer.created",
                          "created": int(time.time()), "data": {"object": {}}})
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": header,
                                                                 "Content-Type": "application/json"})


def _rate_limited(client):
    token = _token(client.get("/reset"))
    client.post("/reset", data={"email": "ann@example.com", "csrf_token": token})
    return client.post("/reset", data={"email": "ann@example.com", "csrf_token": token})


def _server_error(client):
    return client.get("/boom")


def _media_file(client, stored_image):
    image = stored_image()
    return client.get("/media/" + image.file_name(int(image.widths.split(",")[0]), "jpg"))


RESPONSES = {
    "page": (200, lambda client, **_: client.get("/")),
    "redirect": (302, lambda client, **_: client.get("/me/settings")),
    "bad-request": (400, lambda client, **_: client.post("/login", data={"email": "a@example.com"})),
    "not-found": (404, lambda client, **_: client.get("/no-such-page")),
    "method-not-allowed": (405, lambda client, **_: client.get("/logout")),
    "too-large": (413, lambda client, **_: client.post("/login", data={"email": "x" * 4096})),
    "too-many": (429, lambda client, **_: _rate_limited(client)),
    "server-error": (500, lambda client, **_: _server_error(client)),
    "static-file": (200, lambda client, **_: client.get("/static/css/site.css")),
    "media-file": (200, lambda client, stored_image, **_: _media_file(client, stored_image)),
    "webhook-refused": (400, lambda client, **_: client.post("/stripe/webhook", data="{}")),
    "webhook-accepted": (200, lambda client, **_: _signed_webhook(client)),
    "healthz": (200, lambda client, **_: client.get("/healthz")),
}


def _app_answering_every_kind(make_app, like):
    app = make_app(like, MAX_CONTENT_LENGTH=1024, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="1 per minute",
                   PROPAGATE_EXCEPTIONS=False)

    def boom():
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", "boom", boom)
    return app


@pytest.mark.parametrize("kind", RESPONSES)
def test_every_kind_of_response_carries_the_security_headers_and_hsts_in_production(make_app, stored_image, kind):
    status, fetch = RESPONSES[kind]
    client = _app_answering_every_kind(make_app, ProductionConfig).test_client()

    response = fetch(client, stored_image=stored_image)

    assert response.status_code == status
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"


@pytest.mark.parametrize("kind", ["page", "redirect", "not-found", "server-error", "healthz"])
def test_without_the_production_config_there_is_no_hsts(make_app, stored_image, kind):
    status, fetch = RESPONSES[kind]
    client = _app_answering_every_kind(make_app, DevelopmentConfig).test_client()

    response = fetch(client, stored_image=stored_image)

    assert response.status_code == status
    assert "Strict-Transport-Security" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_production_default_for_hsts_is_one_year():
    assert ProductionConfig.HSTS_SECONDS == ONE_YEAR
    assert DevelopmentConfig.HSTS_SECONDS == 0


def test_the_widget_may_be_framed_by_any_site_and_nothing_else_may(make_app, make_campaign):
    campaign = make_campaign(state="live")
    client = make_app(ProductionConfig).test_client()

    widget = client.get(f"/c/{campaign.slug}/widget")
    page = client.get(f"/c/{campaign.slug}")

    assert widget.status_code == page.status_code == 200
    assert "frame-ancestors *" in widget.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in widget.headers
    assert "script-src" not in widget.headers["Content-Security-Policy"]  # default-src 'none': no scripts
    assert widget.headers["X-Content-Type-Options"] == "nosniff"
    assert widget.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert widget.headers["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_the_widget_of_a_draft_is_a_404_that_may_not_be_framed(make_app, make_campaign):
    draft = make_campaign(state="draft")

    response = make_app(ProductionConfig).test_client().get(f"/c/{draft.slug}/widget")

    assert response.status_code == 404
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


# --- Cookies ----------------------------------------------------------------------------------------

def _log_in(client, user, remember=True, base_url="https://localhost"):
    token = _token(client.get("/login", base_url=base_url))
    data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    # Over HTTPS Flask-WTF also wants a Referer of this site, as browsers send it.
    return client.post("/login", data=data, base_url=base_url, headers={"Referer": f"{base_url}/login"})


def test_production_cookies_are_host_only_secure_httponly_and_lax(make_app, make_user):
    user = make_user()
    client = make_app(ProductionConfig).test_client()

    response = _log_in(client, user)

    cookies = _cookies(response)
    assert set(cookies) == {"__Host-session", "__Host-remember_token"}
    for line in cookies.values():
        assert _attributes(line) == {"Secure", "HttpOnly", "Path=/", "SameSite=Lax"}
    assert "Expires=" in cookies["__Host-remember_token"]  # remembered across browser restarts
    assert client.get("/me/settings", base_url="https://localhost").status_code == 200


def test_the_remember_cookie_alone_signs_in_again_in_production(make_app, make_user):
    user = make_user()
    client = make_app(ProductionConfig).test_client()
    _log_in(client, user)

    client.delete_cookie("__Host-session")

    assert client.get("/me/settings", base_url="https://localhost").status_code == 200


def test_development_cookies_work_over_plain_http(make_app, make_user):
    user = make_user()
    client = make_app(DevelopmentConfig).test_client()

    response = _log_in(client, user, base_url="http://127.0.0.1:5000")

    cookies = _cookies(response)
    assert set(cookies) == {"session", "remember_token"}
    for line in cookies.values():
        assert _attributes(line) == {"HttpOnly", "Path=/", "SameSite=Lax"}
    assert client.get("/me/settings", base_url="http://127.0.0.1:5000").status_code == 200


# --- The session at log-in, sign-up and log-out -----------------------------------------------------

def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_logging_in_gives_a_new_session_and_csrf_token(csrf_app, make_user):
    user = make_user()
    client = csrf_app.test_client()
    login_page = client.get("/login")
    before_cookie, before_token = _session_cookie(client), _session(client)["csrf_token"]

    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": _token(login_page)})

    assert response.status_code == 302
    settings = client.get("/me/settings")
    assert settings.status_code == 200
    assert _session_cookie(client) != before_cookie
    assert _session(client)["csrf_token"] != before_token
    # The form token of the page shown before log-in is no longer accepted.
    stale = client.post("/me/settings", data={"display_name": "Stale", "csrf_token": _token(login_page)})
    assert stale.status_code == 400
    assert client.post("/me/settings", data={"display_name": "Fresh", "email_updates": "y",
                                             "csrf_token": _token(settings)}).status_code == 302


def test_signing_up_gives_a_new_session_and_csrf_token(csrf_app):
    client = csrf_app.test_client()
    signup_page = client.get("/signup")
    before_cookie, before_token = _session_cookie(client), _session(client)["csrf_token"]

    response = client.post("/signup", data={"email": "new@example.com", "display_name": "New Backer",
                                            "password": PASSWORD, "csrf_token": _token(signup_page)})

    assert response.status_code == 302
    assert client.get("/me/settings").status_code == 200
    assert _session_cookie(client) != before_cookie
    assert _session(client)["csrf_token"] != before_token
    assert client.post("/me/settings", data={"display_name": "Stale",
                                             "csrf_token": _token(signup_page)}).status_code == 400


def test_a_session_planted_before_log_in_is_not_the_one_logged_in(csrf_app, make_user):
    """Session fixation: whoever set the victim's session cookie (and knows its CSRF token and
    anything else in it) holds nothing of the session the victim logs in with."""
    user = make_user()
    client = csrf_app.test_client()
    token = _token(client.get("/login"))
    with client.session_transaction() as session:
        session["planted"] = "by the attacker"
        session["_flashes"] = [("info", "A message the attacker wrote")]
    planted_cookie, planted_secret = _session_cookie(client), _session(client)["csrf_token"]

    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})

    session = _session(client)
    assert "planted" not in session
    assert "A message the attacker wrote" not in client.get("/").get_data(as_text=True)
    assert session.get("csrf_token") != planted_secret
    assert _session_cookie(client) != planted_cookie
    attacker = csrf_app.test_client()
    attacker.set_cookie("session", planted_cookie)
    assert attacker.get("/me/settings").status_code == 302


def test_after_log_out_the_session_holds_nothing_of_the_user(client, make_user):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    client.get("/me/settings")

    response = client.post("/logout")

    assert set(_session(client)) <= {"_flashes"}
    removed = _cookies(response)["remember_token"]
    assert "Max-Age=0" in removed or "Expires=Thu, 01 Jan 1970" in removed
    assert client.get("/me/settings").status_code == 302


def test_a_copy_of_the_session_cookie_taken_before_log_out_signs_no_one_in(client, app, make_user):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    copied = _session_cookie(client)

    client.post("/logout")
    replay = app.test_client()
    replay.set_cookie("session", copied)

    assert replay.get("/me/settings").status_code == 302


def test_a_copy_of_the_remember_cookie_taken_before_log_out_signs_no_one_in(client, app, make_user):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    copied = client.get_cookie("remember_token").value

    client.post("/logout")
    replay = app.test_client()
    replay.set_cookie("remember_token", copied)

    assert replay.get("/me/settings").status_code == 302


def test_logging_out_in_one_browser_keeps_the_others_signed_in(app, make_user):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    for browser in (laptop, phone):
        browser.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    laptop.post("/logout")

    assert laptop.get("/me/settings").status_code == 302
    assert phone.get("/me/settings").status_code == 200
    phone.delete_cookie("session")  # the browser restarted: the remember cookie signs in again
    assert phone.get("/me/settings").status_code == 200


def test_a_password_change_signs_out_every_browser(app, make_user):
    from crowdfund.accounts.services import change_password

    user = make_user()
    browser = app.test_client()
    browser.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = browser.get_cookie("remember_token").value

    change_password(db.session.get(User, user.id), "a different long passphrase")
    db.session.commit()
    returning = app.test_client()
    returning.set_cookie("remember_token", remember)

    assert browser.get("/me/settings").status_code == 302
    assert returning.get("/me/settings").status_code == 302

