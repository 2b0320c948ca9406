"""Fixtures for the campaign tests: a founder and logged-in clients."""
import pytest


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
