from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import NotFound

from crowdfund.accounts import services
from crowdfund.accounts.forms import EmptyForm, LoginForm, ProfileForm, RequestResetForm, ResetPasswordForm, SignupForm
from crowdfund.accounts.models import User
from crowdfund.credit.routes import profile_page
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db, limiter, login_manager
from crowdfund.media.services import set_avatar
from crowdfund.outbox import emit
from crowdfund.redirects import safe_next

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = _l("Please log in to continue.")
# Flask-Login flashes the message into the session, which cannot hold a lazy string.
login_manager.localize_callback = str


# The session and remember-me cookies name a login session, not just the user, so that log-out can
# end that browser's session for good (see LoginSession).
login_manager.id_attribute = "get_login_session_id"


@login_manager.user_loader
def load_user(session_id):
    return services.user_for_login_session(session_id)


def _sign_in(user, remember=False):
    """A fresh session (nothing set before, by anyone, carries over) for a new login session; commits."""
    session.clear()
    services.start_login_session(user)
    db.session.commit()
    login_user(user, remember=remember)


def _login_rate_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _signup_rate_limit():
    return current_app.config["SIGNUP_RATE_LIMIT"]


def _safe_next(default):
    return safe_next(request.args.get("next", ""), default)  # only same-site paths (crowdfund/redirects.py)


def request_verification_email(user):
    """The confirmation link goes out after the caller commits (notifications/handlers.py), never
    inside the request: a mail server that is down delays it, and the sign-up still succeeds."""
    emit("account.verification_requested", user_id=user.id, locale=str(get_locale()))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_signup_rate_limit, methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("discovery.home"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = services.register_user(form.email.data, form.display_name.data, form.password.data)
        except ValidationFailed as error:
            form.email.errors.append(error.message)
        else:
            request_verification_email(user)
            db.session.commit()
            _sign_in(user)
            flash(_("Welcome! We sent a link to %(email)s to confirm your address.", email=user.email), "success")
            return redirect(_safe_next(url_for("discovery.home")))
    return render_template("accounts/signup.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("discovery.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("That email and password do not match an account."))
        else:
            _sign_in(user, remember=form.remember.data)
            flash(_("Welcome back, %(name)s.", name=user.display_name), "success")
            return redirect(_safe_next(url_for("discovery.home")))
    return render_template("accounts/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        services.end_login_session(session.get("_user_id"))
        db.session.commit()
        session.clear()  # nothing of the old session (CSRF token, flashes, anything else) survives
        logout_user()  # after the clear: it marks the remember-me cookie for deletion in the session
        flash(_("You are logged out."), "info")
    return redirect(url_for("discovery.home"))


@bp.get("/verify/<token>")
def verify_email(token):
    user = services.user_from_token(token, "verify", current_app.config["EMAIL_TOKEN_MAX_AGE"])
    if user is None:
        return render_template("accounts/token_invalid.html", what=_("confirmation")), 400
    return render_template("accounts/verify.html", token=token, form=EmptyForm(), user=user)


@bp.post("/verify/<token>")
def confirm_email(token):
    form = EmptyForm()
    user = services.user_from_token(token, "verify", current_app.config["EMAIL_TOKEN_MAX_AGE"])
    if user is None or not form.validate_on_submit():
        return render_template("accounts/token_invalid.html", what=_("confirmation")), 400
    services.mark_email_verified(user)
    db.session.commit()
    flash(_("Your email address is confirmed."), "success")
    return redirect(url_for("discovery.home"))


@bp.post("/me/verify/resend")
@login_required
def resend_verification():
    if EmptyForm().validate_on_submit() and not current_user.email_verified:
        request_verification_email(current_user)
        db.session.commit()
        flash(_("We sent a new confirmation link to %(email)s.", email=current_user.email), "info")
    return redirect(url_for("accounts.settings"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def request_reset():
    form = RequestResetForm()
    if form.validate_on_submit():
        # The same work and the same answer whether or not the address has an account: the request
        # only writes the event; the handler looks the address up and emails it if it has one.
        emit("account.password_reset_requested", email=services.normalise_email(form.email.data),
             locale=str(get_locale()))
        db.session.commit()
        flash(_("If that address has an account, we sent it a link to reset the password."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/request_reset.html", form=form), 422 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    user = services.user_from_token(token, "reset", current_app.config["RESET_TOKEN_MAX_AGE"])
    if user is None:
        return render_template("accounts/token_invalid.html", what=_("password reset")), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            # The form cannot check "not your email address": it has no email field.
            services.change_password(user, form.password.data)
        except ValidationFailed as error:
            form.password.errors.append(error.message)
        else:
            services.mark_email_verified(user)
            db.session.commit()
            flash(_("Your password is changed. Log in with the new one."), "success")
            logout_user()
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form), 422 if form.errors else 200


@bp.get("/u/<int:user_id>")
def profile(user_id):
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    return profile_page(user)


@bp.route("/me/settings", methods=["GET", "POST"])
@login_required
def settings():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        upload = form.avatar.data
        saved = True
        if upload and getattr(upload, "filename", ""):
            try:
                set_avatar(current_user, upload.read())
            except ValidationFailed as error:
                form.avatar.errors.append(error.message)
                saved = False
        if saved:
            current_user.display_name = form.display_name.data.strip()
            current_user.bio = form.bio.data or ""
            current_user.email_updates = bool(form.email_updates.data)
            current_user.email_follows = bool(form.email_follows.data)
            db.session.commit()
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("accounts.settings"))
    return render_template("accounts/settings.html", form=form), 422 if request.method == "POST" else 200
