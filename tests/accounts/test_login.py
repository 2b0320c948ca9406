"""Logging in and out: sessions, remember me, safe redirects, the login rate limit."""
import re
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest

from crowdfund.accounts.models import LoginSession
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.ticker import run_periodic_jobs

PASSWORD = "correct horse battery"


def _set_cookies(response) -> str:
    return "\n".join(response.headers.getlist("Set-Cookie"))


def _login_session_id(user) -> str:
    """What the session names after log-in: the login_id and the key of the user's one login session."""
    key = db.session.execute(db.select(LoginSession.key).where(LoginSession.user_id == user.id)).scalar_one()
    return f"{user.login_id}.{key}"


def test_login_with_the_right_password_opens_the_settings_page(client, auth, make_user):
    user = make_user()

    response = auth.login(user)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/me/settings").status_code == 200


def test_login_greets_the_user_by_name(client, make_user, page_text):
    user = make_user(display_name="Ann Baker")

    response = client.post("/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=True)

    assert "Welcome back, Ann Baker." in page_text(response)


@pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"], ids=["wrong-password", "unknown-email"])
def test_login_with_a_wrong_password_or_unknown_email_is_refused_alike(client, make_user, field_errors, email):
    make_user(email="ann@example.com")

    response = client.post("/login", data={"email": email, "password": "not the password"})

    assert response.status_code == 422
    assert field_errors(response, "password") == ["That email and password do not match an account."]
    assert "session" not in _set_cookies(response)
    assert client.get("/me/settings").status_code == 302


def test_refused_login_keeps_the_typed_email(client, make_user, input_value):
    make_user(email="ann@example.com")

    response = client.post("/login", data={"email": "ann@example.com", "password": "not the password"})

    assert input_value(response, "email") == "ann@example.com"


def test_settings_page_sends_a_visitor_to_log_in_and_back(client, make_user):
    user = make_user()

    response = client.get("/me/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fme%2Fsettings"

    response = client.post(response.headers["Location"], data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/me/settings"


def test_visitor_sent_to_log_in_is_told_why(client, page_text):
    response = client.get("/me/settings", follow_redirects=True)

    assert "Please log in to continue." in page_text(response)


def test_login_follows_a_next_path_on_this_site(client, make_user):
    user = make_user()

    response = client.post("/login?next=/me/campaigns", data={"email": user.email, "password": PASSWORD})

    assert response.headers["Location"] == "/me/campaigns"


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example/path", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_login_never_redirects_to_another_site(client, make_user, target):
    user = make_user()

    response = client.post("/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_starts_a_new_session(client, make_user):
    user = make_user()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"

    client.post("/login", data={"email": user.email, "password": PASSWORD})

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == _login_session_id(user)


def test_session_names_the_login_id_not_the_user_id(client, auth, make_user):
    user = make_user()

    auth.login(user)

    with client.session_transaction() as session:
        assert session["_user_id"] == _login_session_id(user)
        assert str(user.id) not in session["_user_id"].split(".")


def test_remember_me_sets_a_remember_cookie(client, make_user):
    user = make_user()

    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    remember = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]
    assert len(remember) == 1
    assert "HttpOnly" in remember[0]
    assert "SameSite=Lax" in remember[0]


def test_without_remember_me_there_is_no_remember_cookie(client, make_user):
    user = make_user()

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert "remember_token" not in _set_cookies(response)


def test_remembered_user_is_logged_in_again_after_the_session_cookie_is_gone(client, make_user):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    client.delete_cookie("session")

    assert client.get("/me/settings").status_code == 200


def test_logout_is_post_only(client, auth, make_user):
    auth.login(make_user())

    response = client.get("/logout")

    assert response.status_code == 405
    assert client.get("/me/settings").status_code == 200


def test_logout_ends_the_session(client, auth, make_user, page_text):
    auth.login(make_user())

    response = client.post("/logout", follow_redirects=True)

    assert "You are logged out." in page_text(response)
    assert client.get("/me/settings").status_code == 302


def test_logout_also_forgets_a_remembered_login(client, make_user):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    client.post("/logout")
    client.delete_cookie("session")

    assert client.get("/me/settings").status_code == 302


def test_logout_without_a_csrf_token_keeps_the_user_logged_in(csrf_app, make_user):
    client = csrf_app.test_client()
    user = make_user()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})

    response = client.post("/logout")

    assert response.status_code == 400
    assert client.get("/me/settings").status_code == 200


def test_login_page_sends_a_logged_in_user_home(client, auth, make_user):
    auth.login(make_user())

    response = client.get("/login")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_fourth_login_attempt_in_a_minute_is_refused_with_429(ratelimited_app, make_user, page_text):
    user = make_user()
    client = ratelimited_app.test_client()
    for _ in range(3):
        assert client.post("/login", data={"email": user.email, "password": "not the password"}).status_code == 422

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many attempts. Please wait a minute and try again." in page_text(response)
    assert client.get("/me/settings").status_code == 302


def test_rate_limit_counts_only_login_attempts_not_page_views(ratelimited_app, make_user):
    user = make_user()
    client = ratelimited_app.test_client()
    for _ in range(5):
        assert client.get("/login").status_code == 200

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 302


def _age_login_sessions(user, days: int) -> None:
    db.session.execute(db.update(LoginSession).where(LoginSession.user_id == user.id)
                       .values(created_at=utcnow() - timedelta(days=days)))
    db.session.commit()


def test_a_sign_in_lasts_login_session_days_at_most(app, client, make_user):
    """Remember me keeps a browser signed in for LOGIN_SESSION_DAYS (365), not for ever."""
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", remember).group(1)).replace(tzinfo=None)
    assert abs((expires - utcnow()) - timedelta(days=app.config["LOGIN_SESSION_DAYS"])) < timedelta(minutes=5)

    _age_login_sessions(user, app.config["LOGIN_SESSION_DAYS"] - 1)
    assert client.get("/me/settings").status_code == 200
    _age_login_sessions(user, app.config["LOGIN_SESSION_DAYS"] + 1)

    assert client.get("/me/settings").status_code == 302  # the session cookie no longer signs in
    client.delete_cookie("session")
    assert client.get("/me/settings").status_code == 302  # nor the remember-me cookie


def test_the_periodic_job_deletes_login_sessions_past_their_time(app, make_user):
    """Browsers that never logged out leave rows behind; the periodic job removes the expired ones."""
    stale, fresh = make_user(), make_user()
    fresh_id = fresh.id
    for user in (stale, fresh):
        app.test_client().post("/login", data={"email": user.email, "password": PASSWORD})
    _age_login_sessions(stale, app.config["LOGIN_SESSION_DAYS"] + 1)

    run_periodic_jobs()

    owners = db.session.execute(db.select(LoginSession.user_id)).scalars().all()
    assert owners == [fresh_id]


@pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"], ids=["wrong-password", "unknown-email"])
def test_login_checks_one_password_hash_whether_or_not_the_account_exists(app, client, make_user, monkeypatch, email):
    """The same work for an unknown email as for a wrong password (no timers: the hash check is
    counted), against a hash made with the app's PASSWORD_HASH_METHOD."""
    import werkzeug.security

    from crowdfund.accounts import models, services

    make_user(email="ann@example.com")
    checked = []

    def spy(pwhash, password):
        checked.append(pwhash)
        return werkzeug.security.check_password_hash(pwhash, password)

    monkeypatch.setattr(models, "check_password_hash", spy)
    monkeypatch.setattr(services, "check_password_hash", spy)

    response = client.post("/login", data={"email": email, "password": "not the password"})

    assert response.status_code == 422
    assert len(checked) == 1
    assert checked[0].startswith(app.config["PASSWORD_HASH_METHOD"].split(":")[0] + ":")
    assert checked[0].split("$")[0] == app.config["PASSWORD_HASH_METHOD"]


def test_the_dummy_password_hash_is_made_once_per_process(app, make_user):
    from crowdfund.accounts import services

    with app.test_request_context():
        assert services.authenticate("nobody@example.com", "whatever password") is None
        first = services._dummy_password_hash()
        assert services.authenticate("someone@example.com", "whatever password") is None
        assert services._dummy_password_hash() is first


# --- the idle timeout: a browser unused for LOGIN_IDLE_DAYS signs in again ------------------------

def _move_clock(monkeypatch, days: float) -> None:
    from crowdfund.accounts import services

    moved = utcnow() + timedelta(days=days)
    monkeypatch.setattr(services, "utcnow", lambda: moved)


def _last_used(user):
    db.session.expire_all()
    return db.session.execute(db.select(LoginSession.last_used_at)
                              .where(LoginSession.user_id == user.id)).scalar_one()


def test_a_browser_unused_for_login_idle_days_must_sign_in_again(app, client, make_user, monkeypatch):
    assert app.config["LOGIN_IDLE_DAYS"] == 30
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    assert client.get("/me/settings").status_code == 200

    _move_clock(monkeypatch, 31)

    assert client.get("/me/settings").status_code == 302  # the session cookie no longer signs in
    client.delete_cookie("session")
    assert client.get("/me/settings").status_code == 302  # nor the remember-me cookie


def test_a_browser_used_within_the_idle_limit_stays_signed_in(app, client, make_user, monkeypatch):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    for days in (29, 58, 87):  # each visit within 30 days of the last: the idle window moves on
        _move_clock(monkeypatch, days)
        assert client.get("/me/settings").status_code == 200, days
    client.delete_cookie("session")
    assert client.get("/me/settings").status_code == 200  # the remember-me cookie too

    _move_clock(monkeypatch, 87 + 31)
    assert client.get("/me/settings").status_code == 302


def test_the_last_use_is_written_at_most_once_a_day(app, client, make_user, monkeypatch):
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    signed_in_at = _last_used(user)

    for hours in (1, 12, 23):
        _move_clock(monkeypatch, hours / 24)
        assert client.get("/me/settings").status_code == 200
        assert _last_used(user) == signed_in_at, hours

    _move_clock(monkeypatch, 25 / 24)
    assert client.get("/me/settings").status_code == 200
    assert _last_used(user) - signed_in_at > timedelta(hours=24)
    recorded = _last_used(user)
    _move_clock(monkeypatch, 26 / 24)
    assert client.get("/me/settings").status_code == 200
    assert _last_used(user) == recorded


@pytest.mark.page_cache
def test_recording_a_use_does_not_make_cached_pages_stale(app, client, make_user, monkeypatch):
    """The once-a-day write goes through a connection of its own, not the ORM session whose
    writes bump the page cache's versions."""
    from crowdfund import page_cache

    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    bumps = []
    monkeypatch.setattr(page_cache, "bump_versions", lambda names: bumps.append(set(names)))

    _move_clock(monkeypatch, 2)
    assert client.get("/me/settings").status_code == 200
    assert _last_used(user) > utcnow() + timedelta(days=1)
    assert bumps == []


def test_the_periodic_job_deletes_idle_login_sessions(app, make_user):
    idle, used = make_user(), make_user()
    used_id = used.id
    for user in (idle, used):
        app.test_client().post("/login", data={"email": user.email, "password": PASSWORD})
    db.session.execute(db.update(LoginSession).where(LoginSession.user_id == idle.id)
                       .values(last_used_at=utcnow() - timedelta(days=app.config["LOGIN_IDLE_DAYS"] + 1)))
    db.session.commit()

    run_periodic_jobs()

    owners = db.session.execute(db.select(LoginSession.user_id)).scalars().all()
    assert owners == [used_id]
