"""Confirming an email address with the signed, expiring link from the sign-up email."""
SIGNUP = {"email": "ann@example.com", "display_name": "Ann Baker", "password": "flour and water 42"}
THREE_DAYS = 3 * 24 * 3600


def _sign_up_and_get_link(client, outbox, emailed_link):
    client.post("/signup", data=SIGNUP)
    return emailed_link(outbox[-1])


def _tampered(link: str) -> str:
    """The link with the first character of its token changed (the signature no longer matches)."""
    base, token = link.rsplit("/", 1)
    return f"{base}/{'f' if token[0] != 'f' else 'g'}{token[1:]}"


def test_opening_the_link_shows_a_confirm_page_and_changes_nothing(client, outbox, emailed_link, user_by_email,
                                                                     page_text):
    link = _sign_up_and_get_link(client, outbox, emailed_link)

    response = client.get(link)

    assert response.status_code == 200
    assert "Confirm that ann@example.com is your address." in page_text(response)
    assert user_by_email("ann@example.com").email_verified_at is None


def test_confirming_with_the_link_marks_the_email_verified(client, outbox, emailed_link, user_by_email, page_text):
    link = _sign_up_and_get_link(client, outbox, emailed_link)

    response = client.post(link, follow_redirects=True)

    assert response.status_code == 200
    assert "Your email address is confirmed." in page_text(response)
    assert user_by_email("ann@example.com").email_verified_at is not None


def test_the_link_works_without_being_logged_in(app, outbox, emailed_link, user_by_email):
    link = _sign_up_and_get_link(app.test_client(), outbox, emailed_link)

    response = app.test_client().post(link)

    assert response.status_code == 302
    assert user_by_email("ann@example.com").email_verified_at is not None


def test_a_tampered_link_is_refused(client, outbox, emailed_link, user_by_email, page_text):
    link = _tampered(_sign_up_and_get_link(client, outbox, emailed_link))

    shown = client.get(link)
    confirmed = client.post(link)

    assert shown.status_code == 400
    assert confirmed.status_code == 400
    assert "The confirmation link is invalid, was already used, or has expired." in page_text(confirmed)
    assert user_by_email("ann@example.com").email_verified_at is None


def test_a_made_up_token_is_refused(client, make_user):
    make_user()

    assert client.get("/verify/not-a-token").status_code == 400
    assert client.post("/verify/not-a-token").status_code == 400


def test_a_link_older_than_three_days_has_expired(client, outbox, emailed_link, user_by_email, tokens_signed_ago):
    with tokens_signed_ago(THREE_DAYS + 60):
        link = _sign_up_and_get_link(client, outbox, emailed_link)

    assert client.get(link).status_code == 400
    assert client.post(link).status_code == 400
    assert user_by_email("ann@example.com").email_verified_at is None


def test_a_link_younger_than_three_days_still_works(client, outbox, emailed_link, user_by_email, tokens_signed_ago):
    with tokens_signed_ago(THREE_DAYS - 60):
        link = _sign_up_and_get_link(client, outbox, emailed_link)

    assert client.post(link).status_code == 302
    assert user_by_email("ann@example.com").email_verified_at is not None


def test_link_expiry_follows_the_configured_max_age(app, client, outbox, emailed_link, user_by_email):
    link = _sign_up_and_get_link(client, outbox, emailed_link)
    app.config["EMAIL_TOKEN_MAX_AGE"] = -1

    assert client.post(link).status_code == 400
    assert user_by_email("ann@example.com").email_verified_at is None


def test_a_password_reset_link_does_not_confirm_an_email(client, make_user, outbox, emailed_link, user_by_email):
    make_user(email="ann@example.com", verified=False)
    client.post("/reset", data={"email": "ann@example.com"})
    reset_token = emailed_link(outbox[-1]).rsplit("/", 1)[1]

    response = client.post(f"/verify/{reset_token}")

    assert response.status_code == 400
    assert user_by_email("ann@example.com").email_verified_at is None


def test_an_unverified_user_can_ask_for_the_link_again(client, auth, make_user, outbox, emailed_link, page_text):
    user = make_user(email="ann@example.com", verified=False)
    auth.login(user)

    response = client.post("/me/verify/resend", follow_redirects=True)

    assert "We sent a new confirmation link to ann@example.com." in page_text(response)
    assert [m["To"] for m in outbox] == ["ann@example.com"]
    assert emailed_link(outbox[0]).startswith("/verify/")


def test_a_verified_user_is_not_sent_another_link(client, auth, make_user, outbox):
    auth.login(make_user(verified=True))

    client.post("/me/verify/resend")

    assert outbox == []


def test_settings_tell_an_unverified_user_their_address_is_unconfirmed(client, auth, make_user, page_text):
    auth.login(make_user(email="ann@example.com", verified=False))

    response = client.get("/me/settings")

    assert "Your email address ann@example.com is not confirmed yet." in page_text(response)
