"""Operations: `flask crowdfund check-config`, /healthz with the broker, request ids and JSON logs."""
import json
import logging

from flask import g

from crowdfund import create_app
from crowdfund.extensions import db
from crowdfund.logs import JSONFormatter
from crowdfund.tasks import init_celery

# --- flask crowdfund check-config -------------------------------------------------------------


def test_check_config_prints_settings_without_secret_values(app, runner, monkeypatch):
    monkeypatch.setenv("CROWDFUND_ENV", "testing")
    app.config.update(SECRET_KEY="s3cr3t-value-never-printed", STRIPE_SECRET_KEY="sk_live_never_printed",
                      SQLALCHEMY_DATABASE_URI="postgresql+psycopg://crowd:hunter2pw@db.example:5432/crowd",
                      CELERY_BROKER_URL="redis://:brokerpw@redis.example:6379/0",
                      RATELIMIT_STORAGE_URI="redis://redis.example:6379/1", MAIL_SERVER="smtp.example",
                      MEDIA_STORAGE="s3", S3_BUCKET="crowd-media")

    result = runner.invoke(args=["crowdfund", "check-config"])

    assert result.exit_code == 0, result.output
    out = result.output
    for secret in ("s3cr3t-value-never-printed", "sk_live_never_printed", "hunter2pw", "brokerpw",
                   app.config["STRIPE_WEBHOOK_SECRET"]):
        assert secret not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["SECRET_KEY"].split()[1] == "set"
    assert "postgresql+psycopg://crowd:***@db.example:5432/crowd" in lines["DATABASE_URL"]
    assert "redis://:***@redis.example:6379/0" in lines["CELERY_BROKER_URL"]
    assert "redis://redis.example:6379/1" in lines["RATELIMIT_STORAGE_URI"]
    assert "smtp.example" in lines["MAIL_SERVER"]
    assert lines["STRIPE_SECRET_KEY"].split()[1] == "set"
    assert lines["STRIPE_WEBHOOK_SECRET"].split()[1] == "set"
    assert "s3" in lines["MEDIA_STORAGE"] and "crowd-media" in lines["S3_BUCKET"]
    assert "Nothing essential for testing is missing." in out


def test_check_config_reports_the_development_secret_key_as_missing(app, runner, monkeypatch):
    monkeypatch.setenv("CROWDFUND_ENV", "development")
    app.config.update(SECRET_KEY="dev-only-not-secret", STRIPE_SECRET_KEY=None)

    result = runner.invoke(args=["crowdfund", "check-config"])

    assert result.exit_code == 0, result.output  # nothing is essential in development
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "missing" in lines["SECRET_KEY"]
    assert lines["STRIPE_SECRET_KEY"].split()[1] == "missing"
    assert "Missing for production:" in result.output and "STRIPE_SECRET_KEY" in result.output


def test_check_config_exits_1_when_production_lacks_essentials(runner, monkeypatch):
    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://crowd:pw@db.example/crowd")

    result = runner.invoke(args=["crowdfund", "check-config"])

    assert result.exit_code == 1
    assert "Missing (essential for production): SECRET_KEY" in result.output


def test_check_config_exits_0_when_production_has_essentials(runner, monkeypatch):
    monkeypatch.setenv("CROWDFUND_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://crowd:pw@db.example/crowd")

    result = runner.invoke(args=["crowdfund", "check-config"])

    assert result.exit_code == 0, result.output
    assert "Nothing essential for production is missing." in result.output


def test_check_config_needs_a_bucket_for_s3_media(app, runner, monkeypatch):
    monkeypatch.setenv("CROWDFUND_ENV", "testing")
    app.config.update(MEDIA_STORAGE="s3", S3_BUCKET=None)

    result = runner.invoke(args=["crowdfund", "check-config"])

    assert result.exit_code == 1
    assert "S3_BUCKET" in result.output


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_is_ok_on_the_test_database_without_a_broker(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "not configured"}


def test_healthz_reports_an_unreachable_broker_with_503(app):
    config = {key: value for key, value in app.config.items() if key.isupper()}
    config["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"
    broken = create_app(config)
    try:
        with broken.app_context():
            response = broken.test_client().get("/healthz")
            db.session.remove()
            db.engine.dispose()
    finally:
        init_celery(app)  # the shared Celery app goes back to the test app's (broker-less) settings

    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "ok", "broker": "error"}


def test_healthz_check_does_not_use_celery(app, client, monkeypatch):
    """The broker is pinged with redis-py on the configured URL, whatever Celery is set to."""
    import crowdfund.extensions

    monkeypatch.setattr(crowdfund.extensions.celery, "connection_for_write",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("Celery used")), raising=False)
    app.config["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["broker"] == "error"


# --- request ids and JSON logs ----------------------------------------------------------------


def test_request_id_header_round_trips(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123-DEF"})

    assert response.headers["X-Request-ID"] == "abc-123-DEF"


def test_a_bad_request_id_is_replaced(client):
    for bad in ("has spaces", "x" * 65, "<script>", "a;b", ""):
        response = client.get("/healthz", headers={"X-Request-ID": bad})

        new = response.headers["X-Request-ID"]
        assert new != bad
        assert len(new) == 32 and all(c in "0123456789abcdef" for c in new)


def test_every_response_has_a_request_id(client):
    ids = {client.get(url).headers.get("X-Request-ID") for url in ("/", "/no-such-page", "/healthz")}
    assert None not in ids and len(ids) == 3
    assert "X-Request-ID" in client.post("/discover").headers  # 405


def test_a_log_record_in_a_request_is_json_with_the_request_id(app):
    formatter = JSONFormatter()
    with app.test_request_context("/some/path", method="POST", headers={"X-Request-ID": "req-42"}):
        app.preprocess_request()
        assert g.request_id == "req-42"
        record = logging.LogRecord("crowdfund.test", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
        line = formatter.format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "crowdfund.test"
    assert entry["request_id"] == "req-42"
    assert entry["method"] == "POST" and entry["path"] == "/some/path"
    assert entry["time"].endswith("+00:00")
    assert "exc_info" not in entry


def test_json_log_line_carries_the_exception_as_text(app):
    formatter = JSONFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("crowdfund", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(formatter.format(record))

    assert entry["request_id"] is None and "path" not in entry
    assert "ValueError: boom" in entry["exc_info"] and "Traceback" in entry["exc_info"]


def test_app_logs_are_json_lines_when_log_format_is_json(app):
    """LOG_FORMAT=json puts the JSON formatter on Flask's default handler (stderr; pytest's own
    capture handler keeps Flask from attaching it here, so a handler with the same formatter and
    filters stands in for it)."""
    import io

    from flask.logging import default_handler

    config = {key: value for key, value in app.config.items() if key.isupper()}
    config["LOG_FORMAT"] = "json"
    previous = default_handler.formatter
    stream = io.StringIO()
    try:
        json_app = create_app(config)
        assert isinstance(default_handler.formatter, JSONFormatter)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(default_handler.formatter)
        for log_filter in default_handler.filters:
            handler.addFilter(log_filter)
        json_app.logger.addHandler(handler)
        was_disabled, json_app.logger.disabled = json_app.logger.disabled, False  # alembic's fileConfig

        @json_app.get("/log-something")
        def log_something():
            json_app.logger.warning("inside a request")
            return "ok"

        with json_app.app_context():
            response = json_app.test_client().get("/log-something", headers={"X-Request-ID": "from-proxy-1"})
            db.session.remove()
            db.engine.dispose()
        json_app.logger.removeHandler(handler)
        json_app.logger.disabled = was_disabled
    finally:
        default_handler.setFormatter(previous)
        init_celery(app)

    assert response.headers["X-Request-ID"] == "from-proxy-1"
    assert response.status_code == 200, response.status_code
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    entry = next(e for e in entries if e["message"] == "inside a request")
    assert entry["request_id"] == "from-proxy-1" and entry["path"] == "/log-something"
    assert entry["method"] == "GET" and entry["level"] == "WARNING"


def test_text_log_format_is_the_default_outside_production(app):
    from flask.logging import default_handler

    assert not isinstance(default_handler.formatter, JSONFormatter)


def test_production_config_logs_json_by_default():
    from config import Config, ProductionConfig

    # Both read LOG_FORMAT from the environment when it is set; otherwise production logs JSON.
    import os

    if not os.environ.get("LOG_FORMAT"):
        assert ProductionConfig.LOG_FORMAT == "json" and Config.LOG_FORMAT == "text"
