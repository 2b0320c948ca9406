"""Password reset: the same answer for every address, a link that works once and expires in an hour."""
NEW_PASSWORD = "rye and spelt 2024"
ONE_HOUR = 3600


def _reset_link(client, outbox, emailed_link, email="ann@example.com"):
    client.post("/reset", data={"email": email})
    return emailed_link(outbox[-1])


def _choose(client, link, password=NEW_PASSWORD, confirm=None):
    return client.post(link, data={"password": password, "confirm": confirm if confirm is not None else password})


def test_asking_for_an_existing_and_an_unknown_address_gets_the_same_answer(client, make_user, outbox, page_text):
    make_user(email="ann@example.com")

    known = client.post("/reset", data={"email": "ann@example.com"})
    known_page = page_text(client.get(known.headers["Location"]))
    unknown = client.post("/reset", data={"email": "nobody@example.com"})
    unknown_page = page_text(client.get(unknown.headers["Location"]))

    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    message = "If that address has an account, we sent it a link to reset the password."
    assert message in known_page
    assert message in unknown_page


def test_only_an_existing_address_is_sent_a_reset_email(client, make_user, outbox, emailed_link):
    make_user(email="ann@example.com")

    client.post("/reset", data={"email": "nobody@example.com"})
    client.post("/reset", data={"email": "Ann@Example.com"})

    assert [m["To"] for m in outbox] == ["ann@example.com"]
    assert outbox[0]["Subject"] == "Reset your password"
    assert emailed_link(outbox[0]).startswith("/reset/")


def test_asking_with_a_malformed_address_shows_the_error_next_to_the_field(client, outbox, field_errors, input_value):
    response = client.post("/reset", data={"email": "ann-at-example.com"})

    assert response.status_code == 422
    assert field_errors(response, "email") == ["Invalid email address."]
    assert input_value(response, "email") == "ann-at-example.com"
    assert outbox == []


def test_the_link_lets_you_choose_a_new_password(client, make_user, outbox, emailed_link, user_by_email, page_text):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)
    assert client.get(link).status_code == 200

    response = _choose(client, link)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Your password is changed. Log in with the new one." in page_text(client.get("/login"))
    user = user_by_email("ann@example.com")
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password("correct horse battery")
    assert user.password_hash.startswith("scrypt:")


def test_after_a_reset_only_the_new_password_logs_in(app, make_user, outbox, emailed_link):
    make_user(email="ann@example.com")
    client = app.test_client()
    _choose(client, _reset_link(client, outbox, emailed_link))

    old = app.test_client().post("/login", data={"email": "ann@example.com", "password": "correct horse battery"})
    new = app.test_client().post("/login", data={"email": "ann@example.com", "password": NEW_PASSWORD})

    assert old.status_code == 422
    assert new.status_code == 302


def test_a_reset_confirms_the_email_address(client, make_user, outbox, emailed_link, user_by_email):
    make_user(email="ann@example.com", verified=False)

    _choose(client, _reset_link(client, outbox, emailed_link))

    assert user_by_email("ann@example.com").email_verified_at is not None


def test_a_reset_logs_out_every_other_session(app, auth, client, make_user, outbox, emailed_link):
    user = make_user(email="ann@example.com")
    auth.login(user)
    assert client.get("/me/settings").status_code == 200

    other = app.test_client()
    _choose(other, _reset_link(other, outbox, emailed_link))

    assert client.get("/me/settings").status_code == 302


def test_a_reset_also_ends_a_remembered_login(app, make_user, outbox, emailed_link):
    make_user(email="ann@example.com")
    remembered = app.test_client()
    remembered.post("/login", data={"email": "ann@example.com", "password": "correct horse battery", "remember": "y"})
    remembered.delete_cookie("session")
    assert remembered.get("/me/settings").status_code == 200
    remembered.delete_cookie("session")

    other = app.test_client()
    _choose(other, _reset_link(other, outbox, emailed_link))

    assert remembered.get("/me/settings").status_code == 302


def test_a_common_new_password_is_refused(client, make_user, outbox, emailed_link, user_by_email, field_errors):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)

    response = _choose(client, link, "password123")

    assert response.status_code == 422
    assert field_errors(response, "password") == ["That password is one of the most common ones; choose another."]
    assert user_by_email("ann@example.com").check_password("correct horse battery")


def test_a_short_new_password_is_refused(client, make_user, outbox, emailed_link, user_by_email, field_errors):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)

    response = _choose(client, link, "2short")

    assert response.status_code == 422
    assert field_errors(response, "password") == ["Use at least 8 characters."]
    assert user_by_email("ann@example.com").check_password("correct horse battery")


def test_the_email_address_as_new_password_is_refused(client, make_user, outbox, emailed_link, user_by_email,
                                                       field_errors):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)

    response = _choose(client, link, "Ann@Example.com")

    assert response.status_code == 422
    assert field_errors(response, "password") == ["Your password cannot be your email address."]
    assert user_by_email("ann@example.com").check_password("correct horse battery")


def test_two_different_new_passwords_are_refused(client, make_user, outbox, emailed_link, user_by_email,
                                                 field_errors):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)

    response = _choose(client, link, NEW_PASSWORD, "rye and spelt 2025")

    assert response.status_code == 422
    assert field_errors(response, "confirm") == ["The two passwords differ."]
    assert user_by_email("ann@example.com").check_password("correct horse battery")


def test_a_refused_new_password_leaves_the_link_usable(client, make_user, outbox, emailed_link, user_by_email):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)
    _choose(client, link, "password123")

    response = _choose(client, link)

    assert response.status_code == 302
    assert user_by_email("ann@example.com").check_password(NEW_PASSWORD)


def test_the_link_works_only_once(client, make_user, outbox, emailed_link, user_by_email, page_text):
    make_user(email="ann@example.com")
    link = _reset_link(client, outbox, emailed_link)
    _choose(client, link)

    shown = client.get(link)
    reused = _choose(client, link, "barley and oats 77")

    assert shown.status_code == 400
    assert reused.status_code == 400
    assert "The password reset link is invalid, was already used, or has expired." in page_text(reused)
    assert user_by_email("ann@example.com").check_password(NEW_PASSWORD)


def test_a_token_for_one_user_never_changes_another(client, make_user, outbox, emailed_link, user_by_email):
    make_user(email="ann@example.com")
    make_user(email="bob@example.com")
    link_for_ann = _reset_link(client, outbox, emailed_link, "ann@example.com")

    _choose(client, link_for_ann)

    assert user_by_email("ann@example.com").check_password(NEW_PASSWORD)
    assert user_by_email("bob@example.com").check_password("correct horse battery")


def test_a_tampered_link_is_refused(client, make_user, outbox, emailed_link, user_by_email):
    make_user(email="ann@example.com")
    base, token = _reset_link(client, outbox, emailed_link).rsplit("/", 1)
    tampered = f"{base}/{'f' if token[0] != 'f' else 'g'}{token[1:]}"

    assert client.get(tampered).status_code == 400
    assert _choose(client, tampered).status_code == 400
    assert user_by_email("ann@example.com").check_password("correct horse battery")


def test_an_email_confirmation_link_cannot_reset_a_password(client, outbox, emailed_link, user_by_email):
    client.post("/signup", data={"email": "ann@example.com", "display_name": "Ann", "password": "flour and water 42"})
    verify_token = emailed_link(outbox[-1]).rsplit("/", 1)[1]
    client.post("/logout")

    response = _choose(client, f"/reset/{verify_token}")

    assert response.status_code == 400
    assert user_by_email("ann@example.com").check_password("flour and water 42")


def test_a_link_older_than_an_hour_has_expired(client, make_user, outbox, emailed_link, user_by_email,
                                                tokens_signed_ago):
    make_user(email="ann@example.com")
    with tokens_signed_ago(ONE_HOUR + 60):
        link = _reset_link(client, outbox, emailed_link)

    assert client.get(link).status_code == 400
    assert _choose(client, link).status_code == 400
    assert user_by_email("ann@example.com").check_password("correct horse battery")


def test_a_link_younger_than_an_hour_still_works(client, make_user, outbox, emailed_link, user_by_email,
                                                  tokens_signed_ago):
    make_user(email="ann@example.com")
    with tokens_signed_ago(ONE_HOUR - 60):
        link = _reset_link(client, outbox, emailed_link)

    assert _choose(client, link).status_code == 302
    assert user_by_email("ann@example.com").check_password(NEW_PASSWORD)


def test_asking_for_a_reset_is_rate_limited(ratelimited_app, page_text):
    client = ratelimited_app.test_client()
    for _ in range(3):
        assert client.post("/reset", data={"email": "nobody@example.com"}).status_code == 302

    response = client.post("/reset", data={"email": "nobody@example.com"})

    assert response.status_code == 429
    assert "Too many attempts. Please wait a minute and try again." in page_text(response)
