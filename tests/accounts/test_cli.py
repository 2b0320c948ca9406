"""`flask crowdfund create-user`: the way the first moderator and admin are made."""
PASSWORD = "kneading the dough 9"


def _create_user(runner, *args, input=None):
    return runner.invoke(args=["crowdfund", "create-user", *args], input=input)


def test_creates_a_verified_moderator(runner, user_by_email):
    result = _create_user(runner, "mod@example.com", "--role", "moderator", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert "Created moderator mod@example.com." in result.output
    user = user_by_email("mod@example.com")
    assert user.role == "moderator"
    assert user.is_moderator
    assert user.email_verified_at is not None
    assert user.display_name == "mod"
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password(PASSWORD)


def test_the_created_moderator_can_log_in(runner, client):
    _create_user(runner, "mod@example.com", "--role", "moderator", "--password", PASSWORD, "--name", "Mo Derator")

    response = client.post("/login", data={"email": "mod@example.com", "password": PASSWORD}, follow_redirects=True)

    assert "Welcome back, Mo Derator." in response.get_data(as_text=True)


def test_a_new_account_is_a_backer_unless_a_role_is_given(runner, user_by_email):
    result = _create_user(runner, "ann@example.com", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert user_by_email("ann@example.com").role == "backer"


def test_running_it_again_changes_the_role_and_keeps_the_password(runner, user_by_email):
    _create_user(runner, "mod@example.com", "--role", "moderator", "--password", PASSWORD)

    result = _create_user(runner, "Mod@Example.com", "--role", "admin")

    assert result.exit_code == 0, result.output
    assert "mod@example.com is now a admin." in result.output
    user = user_by_email("mod@example.com")
    assert user.role == "admin"
    assert user.check_password(PASSWORD)


def test_changing_a_role_never_changes_the_password(runner, make_user, user_by_email):
    make_user(email="ann@example.com")

    result = _create_user(runner, "ann@example.com", "--role", "moderator", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert "Its password is unchanged" in result.output
    user = user_by_email("ann@example.com")
    assert user.role == "moderator"
    assert user.check_password("correct horse battery")


def test_an_existing_account_without_a_role_is_left_alone(runner, make_user, user_by_email):
    make_user(email="boss@example.com", role="admin")

    result = _create_user(runner, "boss@example.com")

    assert result.exit_code == 2
    assert "boss@example.com already exists; give --role to change its role." in result.output
    assert user_by_email("boss@example.com").role == "admin"


def test_an_unknown_role_is_refused(runner, count_users):
    result = _create_user(runner, "mod@example.com", "--role", "superuser", "--password", PASSWORD)

    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert count_users() == 0


def test_an_unknown_role_does_not_change_an_existing_account(runner, make_user, user_by_email):
    make_user(email="mod@example.com", role="moderator")

    result = _create_user(runner, "mod@example.com", "--role", "root")

    assert result.exit_code == 2
    assert user_by_email("mod@example.com").role == "moderator"


def test_a_common_password_is_refused(runner, count_users):
    result = _create_user(runner, "mod@example.com", "--role", "moderator", "--password", "password123")

    assert result.exit_code == 1
    assert "That password is one of the most common ones; choose another." in result.output
    assert count_users() == 0


def test_a_short_password_is_refused(runner, count_users):
    result = _create_user(runner, "mod@example.com", "--password", "short")

    assert result.exit_code == 1
    assert "Use at least 8 characters." in result.output
    assert count_users() == 0


def test_a_malformed_email_is_refused(runner, count_users):
    result = _create_user(runner, "mod-at-example.com", "--role", "moderator", "--password", PASSWORD)

    assert result.exit_code == 2
    assert "Invalid value for EMAIL" in result.output
    assert count_users() == 0


def test_the_password_is_asked_for_twice_when_not_given(runner, user_by_email):
    result = _create_user(runner, "mod@example.com", "--role", "moderator", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    assert user_by_email("mod@example.com").check_password(PASSWORD)
