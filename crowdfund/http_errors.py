"""Error pages and response headers: every error a styled page with a status, never a bare 500.

A database that cannot be reached (PostgreSQL down, restarting, out of connections) is a 503 page with
Retry-After, rendered without the database (errors/unavailable.html on errors/_bare_layout.html, no
current_user), for every page and for Stripe's webhook (which then retries). The 500 handler never
fails itself: the full page, else the page without the database, else static HTML."""
from urllib.parse import urlsplit

from flask import current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from crowdfund.errors import DomainError
from crowdfund.extensions import db, login_manager
from crowdfund.templating import format_size

TITLES = {
    400: "Bad request", 403: "Not allowed", 404: "Page not found", 405: "Method not allowed",
    409: "That cannot be done now", 413: "File too large", 429: "Too many requests", 500: "Something went wrong",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:{media}; script-src 'self'{stripe_js}; style-src 'self'; "
    "frame-src 'self'{stripe_frames}{video}; connect-src 'self'{stripe_api}; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The embeddable widget: no scripts at all, and any site may frame it.
WIDGET_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'{media}; style-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors *"
)


def _media_origin(app) -> str:
    public = app.config.get("S3_PUBLIC_URL") if app.config.get("MEDIA_STORAGE") == "s3" else ""
    return f" {_origin(public)}" if public else ""


def widget_content_security_policy(app) -> str:
    return WIDGET_CONTENT_SECURITY_POLICY.format(media=_media_origin(app))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(app) -> str:
    """The policy for this app: 'self', plus the origins Stripe.js (or the stand-in) loads from,
    frames and calls, computed once per app from its config."""
    cached = app.extensions.get("crowdfund_csp")
    if cached is None:
        from crowdfund.media.video import EMBED_ORIGINS
        from crowdfund.payments import gateway

        js = _origin(gateway.stripe_js_url())
        if gateway.uses_standin():
            api = frames = {js, _origin(app.config["STRIPE_STANDIN_URL"])}
        else:
            api, frames = {js, "https://api.stripe.com"}, {js, "https://hooks.stripe.com"}
        cached = app.extensions["crowdfund_csp"] = CONTENT_SECURITY_POLICY.format(
            stripe_js=f" {js}", stripe_frames="".join(f" {o}" for o in sorted(frames)),
            stripe_api="".join(f" {o}" for o in sorted(api)), media=_media_origin(app),
            video="".join(f" {o}" for o in EMBED_ORIGINS))
    return cached


# When even the plain error page cannot be rendered: no template, no translation, no database.
STATIC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · crowdfund</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem;">
<p><a href="/">crowdfund</a></p><h1>{title}</h1><p>{message}</p></body></html>
"""
STATIC_500 = STATIC_PAGE.format(title="Something went wrong",
                                message="An unexpected error happened on our side. It has been logged.")
STATIC_503 = STATIC_PAGE.format(title="We’ll be right back",
                                message="The site cannot reach its database just now. Please try again in a minute.")
# What a 503 asks browsers, Stripe and load balancers to wait before trying again, in seconds.
RETRY_AFTER_SECONDS = 30
BARE_LAYOUT = "errors/_bare_layout.html"
SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open", "disk i/o error")


def _database_errors() -> tuple:
    from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout

    errors = [OperationalError, PoolTimeout]
    try:
        import psycopg
    except ImportError:  # an install without PostgreSQL support
        pass
    else:
        errors.append(psycopg.OperationalError)
    return tuple(errors)


def database_unavailable(error) -> bool:
    """True when error says the database cannot be reached or used right now (a refused or broken
    connection, a connect timeout, a pool with no free connection, a lock or statement timeout),
    rather than a bug in a query."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError) and isinstance(error.orig, sqlite3.Error) and not error.connection_invalidated:
        # SQLite reports bugs ("no such column") as OperationalError too: only a busy or missing file is away.
        return any(sign in str(error.orig).lower() for sign in SQLITE_UNAVAILABLE)
    if isinstance(error, _database_errors()):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone: nothing to roll back there
        current_app.logger.debug("Rollback after an error failed", exc_info=True)


def _no_user_loading() -> None:
    """From here on, current_user is anonymous for this request (its cookie is untouched): whatever
    still asks for it (a template, an after_request function) does not query the database."""
    if "_login_user" not in g:
        g._login_user = login_manager.anonymous_user()


def unavailable_response(error):
    """The 503 page for a database that is away, rendered without it, with Retry-After; JSON for a
    client that prefers it (Stripe's webhook calls). Never raises."""
    _rollback_quietly()
    try:
        _no_user_loading()
        current_app.logger.error("Database unavailable, answered 503: %s: %s", type(error).__name__,
                                 str(error).strip().splitlines()[0] if str(error).strip() else "")
        if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
            response = jsonify(error="The database is unavailable; retry later.")
        else:
            response = current_app.response_class(render_template("errors/unavailable.html"), mimetype="text/html")
    except Exception:
        current_app.logger.exception("The 503 page failed; sending the static one")
        response = current_app.response_class(STATIC_503, mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(status: int, message: str):
    """The styled error page, with the site's full header. If rendering it fails because the database
    is away (the header loads the signed-in user), the 503 page instead; any other failure is raised,
    to the 500 handler."""
    try:
        return render_template("errors/error.html", status=status, title=_(TITLES.get(status, "Error")),
                               message=message), status
    except Exception as error:
        if database_unavailable(error):
            return unavailable_response(error)
        raise


def register(app) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error):
        _rollback_quietly()
        messages = {
            404: _("We could not find that page. It may have moved, or it may not be public."),
            413: _("That upload is too large. The limit is %(size)s.",
                   size=format_size(app.config["MAX_CONTENT_LENGTH"])),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        response = error.get_response()
        page = _page(error.code or 500, messages.get(error.code, error.description or ""))
        if not isinstance(page, tuple):
            return page  # the database is away: the 503 page
        response.set_data(page[0])
        response.content_type = "text/html; charset=utf-8"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _page(400, _("The form expired or was sent from another site. Please reload the page and try again."))

    @app.errorhandler(DomainError)
    def domain_error(error):
        _rollback_quietly()
        return _page(error.status_code, error.message)

    def database_error(error):
        if database_unavailable(error):
            return unavailable_response(error)
        raise error  # a bug in a query: the 500 handler, after Flask logs it

    from sqlalchemy.exc import DBAPIError

    for error_class in {DBAPIError, *_database_errors()}:
        app.register_error_handler(error_class, database_error)

    @app.errorhandler(500)
    def server_error(error):
        """Must never fail: the styled page, else the styled page without the database, else static HTML."""
        original = getattr(error, "original_exception", None)
        if database_unavailable(original):
            return unavailable_response(original)
        # A bug stays a 500 even when the database is away too (the full header then cannot load the user).
        _rollback_quietly()
        for layout in ("base.html", BARE_LAYOUT):
            try:
                if layout == BARE_LAYOUT:
                    _no_user_loading()
                return render_template("errors/error.html", layout=layout, status=500, title=_(TITLES[500]),
                                       message=_("An unexpected error happened on our side. It has been logged.")), 500
            except Exception:
                app.logger.warning("The error page on %s failed", layout, exc_info=True)
                _rollback_quietly()
        return current_app.response_class(STATIC_500, status=500, mimetype="text/html")


def trusted_hosts(app) -> list[str]:
    """TRUSTED_HOSTS (a list, or a comma-separated string) plus PUBLIC_URL's host (the outbox and
    commands build requests on it); never empty (an empty list would make werkzeug accept every host)."""
    configured = app.config.get("TRUSTED_HOSTS") or []
    if isinstance(configured, str):
        configured = configured.split(",")
    hosts = [host.strip().lower() for host in configured if host and host.strip()]
    public_host = urlsplit(app.config.get("PUBLIC_URL") or "").hostname
    if public_host:
        hosts.append(public_host.lower())
    return list(dict.fromkeys(hosts)) or ["localhost"]


def unknown_host(error):
    """The 400 for a Host not in TRUSTED_HOSTS (Flask refuses it before routing, so before the page cache
    and any view). Flask made no URL adapter for that host: the page's links (all relative) are built on
    PUBLIC_URL's. If even that fails, the static page."""
    from flask.globals import request_ctx

    current_app.logger.warning("Refused a request for an untrusted host")
    message = _("This site does not answer to that host name.")
    try:
        parts = urlsplit(current_app.config["PUBLIC_URL"])
        request_ctx.url_adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/",
                                                           url_scheme=parts.scheme)
        return _page(400, message)  # or the 503 page when the database is away
    except Exception:
        current_app.logger.warning("The 400 page for an untrusted host failed; sending the static one", exc_info=True)
        return current_app.response_class(STATIC_PAGE.format(title="Bad request", message=message),
                                          status=400, mimetype="text/html")


def register_trusted_hosts(app) -> None:
    """Answer only the hosts in TRUSTED_HOSTS (Flask's own check); any other gets unknown_host's 400.
    No link is built from the Host (crowdfund/templating.py absolute_url uses PUBLIC_URL)."""
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app)
    app.register_error_handler(SecurityError, unknown_host)


# Files that are the same for every visitor keep their own Cache-Control, signed in or not.
SAME_FOR_EVERYONE = frozenset({"static", "media.file", "campaigns.widget"})
PAGE_CACHE_ANSWERS = frozenset({"hit", "miss", "stale"})


def _signed_in() -> bool:
    """Whether this response goes to a signed-in browser: the user Flask-Login loaded, else the session
    or a remember-me cookie (without loading the user only for this)."""
    from flask import session

    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        return True
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    return "_user_id" in session or bool(request.cookies.get(remember))


def add_cache_control(response):
    """`private, no-store` on every response to a signed-in user and on every page holding a CSRF token
    (a form); `public, no-cache` on a page the page cache answered for a visitor: any cache may keep it,
    but asks again before each use. Not max-age: the page cache's promise that no one sees a page older
    than the last write would not hold for a browser's copy (the browser journey saw a stale page)."""
    explicit = response.headers.get("Cache-Control")
    if "csrf_token" in g or _signed_in():
        if request.endpoint in SAME_FOR_EVERYONE and explicit:
            # An image, a static file, the widget: the browser may keep its copy, no shared cache may.
            parts = [part.strip() for part in explicit.split(",") if part.strip() not in ("public", "private")]
            response.headers["Cache-Control"] = ", ".join(["private", *parts])
        else:
            response.headers["Cache-Control"] = "private, no-store"
    elif response.headers.get("X-Page-Cache") in PAGE_CACHE_ANSWERS and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "public, no-cache"
    return response


def add_security_headers(response):
    add_cache_control(response)
    response.headers.setdefault("Content-Security-Policy", content_security_policy(current_app))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""):
        response.headers.setdefault("X-Frame-Options", "DENY")
    hsts = current_app.config.get("HSTS_SECONDS")
    if hsts:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    return response
