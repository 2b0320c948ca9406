"""Sign up: an account, a session and a confirmation email; bad input re-shows the form filled in."""
import re

import pytest

from crowdfund.accounts.models import User
from crowdfund.extensions import db

GOOD = {"email": "ann@example.com", "display_name": "Ann Baker", "password": "flour and water 42"}


def test_signup_creates_an_unverified_backer_and_logs_them_in(client, user_by_email):
    response = client.post("/signup", data=GOOD)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    user = user_by_email("ann@example.com")
    assert user is not None
    assert user.display_name == "Ann Baker"
    assert user.role == "backer"
    assert user.email_verified_at is None
    assert client.get("/me/settings").status_code == 200


def test_signup_sends_a_confirmation_email_with_a_link(client, outbox, emailed_link):
    client.post("/signup", data=GOOD)

    assert len(outbox) == 1
    message = outbox[0]
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Confirm your email address"
    assert emailed_link(message).startswith("/verify/")


def test_signup_says_where_the_confirmation_link_went(client, page_text):
    response = client.post("/signup", data=GOOD, follow_redirects=True)

    assert "We sent a link to ann@example.com to confirm your address." in page_text(response)


def test_password_is_stored_as_an_scrypt_hash(client, user_by_email):
    client.post("/signup", data=GOOD)

    user = user_by_email("ann@example.com")
    assert user.password_hash.startswith("scrypt:")
    assert GOOD["password"] not in user.password_hash
    assert user.check_password(GOOD["password"])


def test_email_is_stored_in_lower_case_and_login_ignores_case(app, user_by_email):
    app.test_client().post("/signup", data={**GOOD, "email": "Ann@Example.COM"})

    assert user_by_email("ann@example.com") is not None
    response = app.test_client().post("/login", data={"email": "ANN@example.com", "password": GOOD["password"]})
    assert response.status_code == 302


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"email": "ann-at-example.com"}, "email", "Invalid email address."),
    ({"password": "short7!"}, "password", "Use at least 8 characters."),
    ({"password": "password123"}, "password", "That password is one of the most common ones; choose another."),
    ({"password": "ann@example.com"}, "password", "Your password cannot be your email address."),
    ({"password": "ANN@example.com"}, "password", "Your password cannot be your email address."),
    ({"display_name": ""}, "display_name", "This field is required."),
    ({"display_name": "   "}, "display_name", "This field is required."),
], ids=["bad-email", "short-password", "common-password", "password-is-email", "password-is-email-other-case",
        "no-display-name", "blank-display-name"])
def test_signup_error_is_shown_next_to_the_field_and_nothing_is_created(
        client, outbox, count_users, field_errors, changes, field, message):
    response = client.post("/signup", data={**GOOD, **changes})

    assert response.status_code == 422
    assert field_errors(response, field) == [message]
    assert count_users() == 0
    assert outbox == []
    assert client.get("/me/settings").status_code == 302


@pytest.mark.parametrize("changes",
                         [{"password": "password123"}, {"display_name": ""}, {"email": "ann-at-example.com"}],
                         ids=["password-refused", "display-name-missing", "email-refused"])
def test_refused_signup_keeps_the_typed_email_and_display_name(client, input_value, page_text, changes):
    data = {**GOOD, **changes}

    response = client.post("/signup", data=data)

    assert response.status_code == 422
    assert input_value(response, "email") == data["email"]
    assert input_value(response, "display_name") == data["display_name"]
    assert data["password"] not in page_text(response)  # a password is never sent back in the page


def test_signup_with_a_taken_email_in_other_case_is_refused(client, make_user, outbox, count_users, field_errors,
                                                            input_value):
    make_user(email="ann@example.com")

    response = client.post("/signup", data={**GOOD, "email": "Ann@Example.com"})

    assert response.status_code == 422
    assert field_errors(response, "email") == ["An account with that email already exists. Log in instead?"]
    assert input_value(response, "email") == "Ann@Example.com"
    assert input_value(response, "display_name") == "Ann Baker"
    assert count_users() == 1
    assert outbox == []


def test_signup_page_sends_a_logged_in_user_home(client, auth, make_user):
    auth.login(make_user())

    response = client.get("/signup")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signup_does_not_follow_a_next_link_to_another_site(client):
    response = client.post("/signup?next=https://evil.example/", data=GOOD)

    assert response.headers["Location"] == "/"


def test_signup_without_a_csrf_token_is_refused(csrf_app, page_text):
    client = csrf_app.test_client()

    response = client.post("/signup", data=GOOD)

    assert response.status_code == 400
    assert "The form expired or was sent from another site." in page_text(response)
    assert _user_count() == 0


def test_signup_with_the_csrf_token_from_the_form_succeeds(csrf_app):
    client = csrf_app.test_client()
    form = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)

    response = client.post("/signup", data={**GOOD, "csrf_token": token})

    assert response.status_code == 302
    assert _user_count() == 1


def _user_count() -> int:
    return db.session.execute(db.select(db.func.count(User.id))).scalar_one()


def test_asking_whether_emails_have_accounts_through_sign_up_is_rate_limited(app, make_user):
    """The deliberate trade-off (docs/operations.md, "What the log-in, reset and sign-up forms
    reveal"): sign-up says an email is taken, but every sign-up attempt from an address counts
    against SIGNUP_RATE_LIMIT, refused ones included, so it is no way to check emails in bulk; the
    refusal once limited does not say whether the email has an account."""
    from flask import g, request_started

    from crowdfund import create_app

    def forget_cached_user(sender, **extra):  # each client its own browser (as in tests/conftest.py)
        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    make_user(email="ann@example.com")
    limited = create_app({**app.config, "RATELIMIT_ENABLED": True, "SIGNUP_RATE_LIMIT": "3 per hour"})
    request_started.connect(forget_cached_user, limited)
    with limited.app_context():
        try:
            answers = [limited.test_client().post("/signup", data={**GOOD, "email": email}).status_code
                       for email in ("ann@example.com", "bob@example.com", "ann@example.com")]
            taken = limited.test_client().post("/signup", data={**GOOD, "email": "ann@example.com"})
            free = limited.test_client().post("/signup", data={**GOOD, "email": "carol@example.com"})
        finally:
            db.session.remove()
            db.engine.dispose()

    assert answers == [422, 302, 422]
    assert taken.status_code == free.status_code == 429
    assert b"already" not in taken.data
    assert taken.data.replace(b"ann@", b"X").replace(b"carol@", b"X") == free.data.replace(
        b"ann@", b"X").replace(b"carol@", b"X")
