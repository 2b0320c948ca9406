"""Request ids and JSON log lines.

Every request gets an id: the incoming X-Request-ID header when it is a plain token
([A-Za-z0-9-], at most 64 characters), else a new uuid4 hex. It is kept on `g.request_id`
and sent back in the X-Request-ID response header. With LOG_FORMAT = "json" (the default in
ProductionConfig) the app's log records are written as one JSON object per line, carrying the
request id, method and path when logged inside a request."""
import json
import logging
import re
import uuid
from datetime import datetime, timezone

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def request_id_from(value: str | None) -> str:
    """The caller's request id when it is a safe token, else a new one."""
    if value and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    if not has_request_context():
        return None
    return g.get("request_id")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (+ method and path
    inside a request), exc_info as text when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
        }
        if has_request_context():
            entry["method"] = request.method
            entry["path"] = request.path
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record, so plain-text formats can show it too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


PLAIN_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s [%(request_id)s]: %(message)s"


def register(app) -> None:
    """Request ids on every request and response; the app logger's format from LOG_FORMAT."""

    @app.before_request
    def assign_request_id():
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))

    @app.after_request
    def send_request_id(response):
        # An error raised before before_request ran (e.g. a routing 404 still runs it; a
        # failing before_request earlier in the chain may not) gets an id here.
        if "request_id" not in g:
            g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        response.headers[REQUEST_ID_HEADER] = g.request_id
        return response

    log_format = str(app.config.get("LOG_FORMAT", "text")).lower()
    formatter = JSONFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT)
    # Flask's default handler (flask.logging.default_handler) writes to wsgi.errors / stderr;
    # give it our format rather than adding a second handler.
    from flask.logging import default_handler

    default_handler.setFormatter(formatter)
    if not any(isinstance(f, RequestIdFilter) for f in default_handler.filters):
        default_handler.addFilter(RequestIdFilter())
    # Flask-Limiter says when its Redis is unreachable (WARNING) and when it answers again (INFO):
    # into the app's log, in its format.
    limiter_logger = logging.getLogger("flask-limiter")
    limiter_logger.setLevel(logging.INFO)
    if default_handler not in limiter_logger.handlers:
        limiter_logger.addHandler(default_handler)
    app.extensions["crowdfund_log_formatter"] = formatter
