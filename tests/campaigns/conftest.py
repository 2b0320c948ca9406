"""Fixtures for the campaign tests: a founder and logged-in clients."""
import pytest
from flask import g, request_started


@pytest.fixture(autouse=True)
def _app_on_each_database(request, database_url):
    """Every test here runs inside the app on each database (the CSRF-protected app when
    the test asks for `csrf_app`), whatever fixtures it names first."""
    request.getfixturevalue("csrf_app" if "csrf_app" in request.fixturenames else "app")


@pytest.fixture(autouse=True)
def _user_per_request():
    """Each request loads its user afresh, as in production.

    The `app` fixture keeps one app context pushed for the whole test and requests reuse
    it, so Flask-Login's user cached on `g` would otherwise leak from one client (or one
    login) to the next and hide permission bugs."""

    def forget_cached_user(sender, **extra):
        g.pop("_login_user", None)

    request_started.connect(forget_cached_user)
    yield
    request_started.disconnect(forget_cached_user)


@pytest.fixture
def login(app):
    """login(user) -> a new test client logged in as user."""

    def log_in(user):
        client = app.test_client()
        response = client.post("/login", data={"email": user.email, "password": "correct horse battery"})
        assert response.status_code == 302
        return client

    return log_in


@pytest.fixture
def founder(make_user):
    return make_user(display_name="Fay Baker")


@pytest.fixture
def founder_client(login, founder):
    """A test client logged in as `founder`."""
    return login(founder)
