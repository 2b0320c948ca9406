"""Error pages and response headers: every error a styled page with a status, never a bare 500."""
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from crowdfund.errors import DomainError
from crowdfund.extensions import db
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


def _page(status: int, message: str):
    return render_template("errors/error.html", status=status, title=_(TITLES.get(status, "Error")),
                           message=message), status


def register(app) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error):
        db.session.rollback()
        messages = {
            404: _("We could not find that page. It may have moved, or it may not be public."),
            413: _("That upload is too large. The limit is %(size)s.",
                   size=format_size(app.config["MAX_CONTENT_LENGTH"])),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        response = error.get_response()
        page, status = _page(error.code or 500, messages.get(error.code, error.description or ""))
        response.set_data(page)
        response.content_type = "text/html; charset=utf-8"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _page(400, _("The form expired or was sent from another site. Please reload the page and try again."))

    @app.errorhandler(DomainError)
    def domain_error(error):
        db.session.rollback()
        return _page(error.status_code, error.message)

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return _page(500, _("An unexpected error happened on our side. It has been logged."))


def add_security_headers(response):
    response.headers.setdefault("Content-Security-Policy", content_security_policy(current_app))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""):
        response.headers.setdefault("X-Frame-Options", "DENY")
    hsts = current_app.config.get("HSTS_SECONDS")
    if hsts:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    return response
