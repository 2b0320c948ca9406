"""Accounts: sign-up, passwords, email tokens, roles. Functions flush; callers commit."""
import secrets
from datetime import timedelta
from functools import lru_cache
from importlib import resources

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_
from sqlalchemy.exc import DBAPIError
from werkzeug.security import check_password_hash, generate_password_hash

from crowdfund.accounts.models import ROLES, LoginSession, User
from crowdfund.accounts.models import make_token, user_from_token  # noqa: F401  (email tokens live with User)
from crowdfund.clock import utcnow
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db

MIN_PASSWORD_LENGTH = 8


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("crowdfund.accounts").joinpath("common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line and not line.startswith("#"))


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why this password is refused (translated), or None if it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(num)d characters.", num=MIN_PASSWORD_LENGTH)
    if password.lower() in common_passwords():
        return _("That password is one of the most common ones; choose another.")
    if email and password.lower() == email.strip().lower():
        return _("Your password cannot be your email address.")
    return None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(db.select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def register_user(email: str, display_name: str, password: str, role: str = "backer") -> User:
    """Create an unverified user; raises ValidationFailed for a taken email, a bad password or role."""
    if role not in ROLES:
        raise ValidationFailed(_("Unknown role %(role)s; choose one of %(roles)s.", role=role, roles=", ".join(ROLES)))
    if find_user_by_email(email):
        raise ValidationFailed(_("An account with that email already exists."))
    problem = password_problem(password, email)
    if problem:
        raise ValidationFailed(problem)
    user = User(email=normalise_email(email), display_name=display_name.strip(), role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


_dummy_hashes: dict[str, str] = {}


def _dummy_password_hash() -> str:
    """A hash of a random password, made once per process with the app's PASSWORD_HASH_METHOD:
    what an unknown email's log-in is checked against, so it costs the same as a real one."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_urlsafe(16), method=method)
    return _dummy_hashes[method]


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None. The same work either way: an unknown email
    still has a password hash checked (a dummy one), so the time taken does not tell which emails
    have accounts."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_dummy_password_hash(), password)
        return None
    if not user.check_password(password):
        return None
    return user


def change_password(user: User, password: str) -> None:
    """Set a new password; every existing session of the user stops working."""
    problem = password_problem(password, user.email)
    if problem:
        raise ValidationFailed(problem)
    user.set_password(password)
    db.session.execute(db.delete(LoginSession).where(LoginSession.user_id == user.id))
    db.session.flush()


def start_login_session(user: User) -> str:
    """A new login session for user (flushed), made what login_user() stores for this browser;
    returns its id, "<login_id>.<key>"."""
    row = LoginSession(user_id=user.id)
    db.session.add(row)
    db.session.flush()
    user.login_session_id = f"{user.login_id}.{row.key}"
    return user.login_session_id


# How often a login session's last use is written down: once a day at most, per session.
LAST_USED_RESOLUTION = timedelta(days=1)


def user_for_login_session(session_id: str) -> User | None:
    """The user whose login session this is, while it lasts: None once it was ended, the user's
    password changed (which changes the login_id), it is LOGIN_SESSION_DAYS old or it went unused
    for LOGIN_IDLE_DAYS; in one query. Its last use is recorded when a day has passed since the
    recorded one (_record_use)."""
    login_id, _dot, key = (session_id or "").partition(".")
    if not login_id or not key:
        return None
    now = utcnow()
    row = db.session.execute(
        db.select(User, LoginSession.last_used_at).join(LoginSession, LoginSession.user_id == User.id)
        .where(User.login_id == login_id, LoginSession.key == key,
               LoginSession.created_at > _oldest_login_session(now),
               LoginSession.last_used_at > _last_use_of_idle_session(now))).one_or_none()
    if row is None:
        return None
    user, last_used_at = row
    if now - last_used_at >= LAST_USED_RESOLUTION:
        _record_use(key, now)
    return user


def _record_use(key: str, now) -> None:
    """Write down that login session `key` was used now, in a short transaction of its own: the
    request's own transaction may never commit (a GET), and this must not commit anything of it.
    Through a connection, not the ORM session, so it does not count as a write that makes the page
    cache's stored pages stale (no public page shows it). A failure (a lock held too long) is logged
    and skipped: a later request records the use."""
    table = LoginSession.__table__
    try:
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            connection.execute(table.update().where(table.c.key == key, table.c.last_used_at < now)
                               .values(last_used_at=now))
    except DBAPIError:
        current_app.logger.warning("Could not record the use of a login session; a later request will",
                                   exc_info=True)


def _oldest_login_session(now):
    return now - timedelta(days=current_app.config["LOGIN_SESSION_DAYS"])


def _last_use_of_idle_session(now):
    """A login session last used at or before this is idle past LOGIN_IDLE_DAYS. Uses are recorded
    to the day, so a browser is asked to sign in again after between LOGIN_IDLE_DAYS - 1 and
    LOGIN_IDLE_DAYS days without use."""
    return now - timedelta(days=current_app.config["LOGIN_IDLE_DAYS"])


def end_old_login_sessions(now) -> int:
    """Delete the login sessions older than LOGIN_SESSION_DAYS or unused for LOGIN_IDLE_DAYS (they
    sign no one in any more: the browsers that never logged out, or went quiet). Run by the periodic
    job; returns how many. Flushes."""
    old = or_(LoginSession.created_at <= _oldest_login_session(now),
              LoginSession.last_used_at <= _last_use_of_idle_session(now))
    # Looked for first: a DELETE through the session counts as a write and would make every stored
    # public page stale (crowdfund/page_cache.py) on every run, though there is rarely anything to delete.
    if not db.session.scalar(db.select(db.exists().where(old))):
        return 0
    deleted = db.session.execute(db.delete(LoginSession).where(old)).rowcount
    db.session.flush()
    return deleted


def end_login_session(session_id: str | None) -> None:
    """Forget this login session (a log-out): copies of its cookies sign no one in. Flushes."""
    key = (session_id or "").partition(".")[2]
    if key:
        db.session.execute(db.delete(LoginSession).where(LoginSession.key == key))
        db.session.flush()


def set_role(user: User, role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed(_("Unknown role %(role)s; choose one of %(roles)s.", role=role, roles=", ".join(ROLES)))
    user.role = role
    db.session.flush()


def mark_email_verified(user: User) -> None:
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        db.session.flush()


def count_users() -> int:
    return db.session.execute(db.select(func.count(User.id))).scalar_one()
