import secrets
from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from markupsafe import Markup
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import ForeignKey, String, Text, true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from crowdfund.clock import utcnow
from crowdfund.extensions import db

ROLES = ("backer", "moderator", "admin")


def _new_login_id() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="backer")
    bio: Mapped[str] = mapped_column(Text, default="")
    # The bio rendered and sanitised at save time (crowdfund/campaigns/derived.py); templates show bio_markup.
    bio_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    avatar_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    email_verified_at: Mapped[datetime | None]
    # Email preferences (each email's unsubscribe link turns one off).
    email_updates: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    email_follows: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the session cookie carries instead of the id (with a LoginSession's key): rotated on
    # password change, which signs out every other session of that user.
    login_id: Mapped[str] = mapped_column(String(64), unique=True, default=_new_login_id)

    # Avatars are shown wherever the user is, so they come with the user (one join).
    avatar = relationship("Image", lazy="joined", foreign_keys=[avatar_id])

    # Set by accounts.services.start_login_session(); what login_user() puts in the session cookie.
    login_session_id = None

    @property
    def bio_markup(self) -> Markup:
        return Markup(self.bio_html or "")

    def get_id(self) -> str:
        return self.login_id

    def get_login_session_id(self) -> str:
        """The id login_user() stores (LoginManager.id_attribute): this browser's login session."""
        if self.login_session_id is None:
            raise RuntimeError("start_login_session(user) comes before login_user(user)")
        return self.login_session_id

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if current_app else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)
        self.login_id = _new_login_id()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class LoginSession(db.Model):
    """One signed-in browser. Its key is in that browser's session and remember-me cookies (signed
    client-side, so a copy keeps working); logging out deletes the row, and a copy of either cookie
    then signs no one in, while the user's other browsers stay signed in. It lasts LOGIN_SESSION_DAYS
    from its start, and ends sooner once unused for LOGIN_IDLE_DAYS."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, default=_new_login_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the browser last used it, to the day: written at most once a day per session (a write per
    # request would cost a commit and make the page cache's stored pages stale). A session unused for
    # LOGIN_IDLE_DAYS signs no one in (accounts/services.py).
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- signed email tokens (confirmation, password reset) ------------------------------------------
# Here, beside User, so that the emails carrying them (notifications) can make them without the
# accounts services, which sit above notifications.

def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"crowdfund-{purpose}")


def make_token(user: User, purpose: str) -> str:
    """A signed token naming the user. A reset token also carries a fingerprint of the
    current password hash, so it stops working once the password changes (single use)."""
    payload = {"uid": user.id, "email": user.email}
    if purpose == "reset":
        payload["pw"] = user.password_hash[-16:]
    return _serializer(purpose).dumps(payload)


def user_from_token(token: str, purpose: str, max_age: int) -> User | None:
    """The user a valid, unexpired token names, or None."""
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    user = db.session.get(User, payload.get("uid"))
    if user is None or user.email != payload.get("email"):
        return None
    if purpose == "reset" and user.password_hash[-16:] != payload.get("pw"):
        return None
    return user
