"""Operations: `flask crowdfund check-config`, /healthz with the broker, request ids and JSON logs."""
import json
import logging
import os
import subprocess
import sys

from flask import g

from crowdfund import PROJECT_DIR, create_app
from crowdfund.extensions import db
from crowdfund.logs import JSONFormatter
from crowdfund.tasks import init_celery

# --- flask crowdfund check-config -------------------------------------------------------------
# Run as an operator runs it: the real `flask` command in a fresh process, with only these settings
# in its environment (check-config reads the environment, and must work when the app cannot start).

CONFIG_NAMES = ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "RATELIMIT_STORAGE_URI", "MAIL_SERVER",
                "MAIL_BACKEND", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET",
                "STRIPE_STANDIN", "MEDIA_STORAGE", "S3_BUCKET", "PUBLIC_URL", "TRUSTED_HOSTS", "CROWDFUND_ENV")
PRODUCTION = {
    "CROWDFUND_ENV": "production", "SECRET_KEY": "s3cr3t-value-never-printed-0123456789",
    "DATABASE_URL": "postgresql://crowd:hunter2pw@db.example:5432/crowd",
    "CELERY_BROKER_URL": "redis://:brokerpw@redis.example:6379/0",
    "RATELIMIT_STORAGE_URI": "redis://:limitpw@redis.example:6379/1", "MAIL_SERVER": "smtp.example",
    "PUBLIC_URL": "https://crowd.example", "TRUSTED_HOSTS": "crowd.example",
    "STRIPE_SECRET_KEY": "sk_live_never_printed",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_never_printed",
}


def flask_command(tmp_path, *args, **settings):
    env = {name: value for name, value in os.environ.items() if name not in CONFIG_NAMES}
    env.update(settings, CROWDFUND_INSTANCE_DIR=str(tmp_path))
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], env=env, cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=60)


def setting_lines(output):
    return {line.split()[0]: line for line in output.splitlines() if line.strip() and not line.startswith(" ")}


def test_check_config_prints_settings_without_secret_values(tmp_path):
    result = flask_command(tmp_path, "crowdfund", "check-config", **PRODUCTION, MEDIA_STORAGE="s3",
                           S3_BUCKET="crowd-media")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for secret in ("s3cr3t-value-never-printed", "sk_live_never_printed", "hunter2pw", "brokerpw", "limitpw",
                   "whsec_never_printed"):
        assert secret not in out
    lines = setting_lines(out)
    assert lines["SECRET_KEY"].split()[1] == "set"
    assert "postgresql://crowd:***@db.example:5432/crowd" in lines["DATABASE_URL"]
    assert "redis://:***@redis.example:6379/0" in lines["CELERY_BROKER_URL"]
    assert "redis://:***@redis.example:6379/1" in lines["RATELIMIT_STORAGE_URI"]
    assert "smtp.example" in lines["MAIL_SERVER"]
    assert lines["STRIPE_SECRET_KEY"].split()[1] == "set"
    assert lines["STRIPE_WEBHOOK_SECRET"].split()[1] == "set"
    assert "s3" in lines["MEDIA_STORAGE"] and "crowd-media" in lines["S3_BUCKET"]
    assert "Nothing essential for production is missing." in out


def test_check_config_in_development_lists_what_production_would_need(tmp_path):
    result = flask_command(tmp_path, "crowdfund", "check-config", CROWDFUND_ENV="development")

    assert result.returncode == 0, result.stdout + result.stderr  # nothing is essential in development
    lines = setting_lines(result.stdout)
    assert "missing" in lines["SECRET_KEY"]
    assert lines["STRIPE_SECRET_KEY"].split()[1] == "missing"
    production_part = result.stdout.split("Missing for production:")[1]
    for name in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "RATELIMIT_STORAGE_URI", "STRIPE_SECRET_KEY"):
        assert name in production_part


def test_production_refuses_to_start_and_check_config_says_what_is_missing(tmp_path):
    settings = dict(PRODUCTION, RATELIMIT_STORAGE_URI="memory://")
    del settings["SECRET_KEY"], settings["STRIPE_WEBHOOK_SECRET"]

    checked = flask_command(tmp_path, "crowdfund", "check-config", **settings)
    started = flask_command(tmp_path, "routes", **settings)

    assert checked.returncode == 1
    essential = checked.stdout.split("essential for production")[1]
    assert "SECRET_KEY" in essential and "STRIPE_WEBHOOK_SECRET" in essential
    assert "RATELIMIT_STORAGE_URI" in essential and "DATABASE_URL" not in essential
    assert started.returncode != 0
    assert "The production configuration is missing" in started.stderr
    assert "SECRET_KEY" in started.stderr and "RATELIMIT_STORAGE_URI" in started.stderr


def test_production_needs_public_url_and_trusted_hosts(tmp_path):
    settings = {name: value for name, value in PRODUCTION.items() if name not in ("PUBLIC_URL", "TRUSTED_HOSTS")}

    checked = flask_command(tmp_path, "crowdfund", "check-config", **settings)
    started = flask_command(tmp_path, "routes", **settings)
    with_both = flask_command(tmp_path, "crowdfund", "check-config", **settings, PUBLIC_URL="https://crowd.example",
                              TRUSTED_HOSTS="crowd.example, www.crowd.example")

    assert checked.returncode == 1
    essential = checked.stdout.split("essential for production")[1]
    assert "PUBLIC_URL" in essential and "TRUSTED_HOSTS" in essential
    assert started.returncode != 0 and "TRUSTED_HOSTS" in started.stderr
    assert with_both.returncode == 0, with_both.stdout


def test_production_may_run_against_the_stripe_standin_when_asked_to(tmp_path):
    settings = {name: value for name, value in PRODUCTION.items() if not name.startswith("STRIPE_")}

    without = flask_command(tmp_path, "crowdfund", "check-config", **settings)
    with_standin = flask_command(tmp_path, "crowdfund", "check-config", **settings, STRIPE_STANDIN="1")

    assert without.returncode == 1 and "STRIPE_SECRET_KEY" in without.stdout.split("essential")[1]
    assert with_standin.returncode == 0, with_standin.stdout
    assert "stand-in" in setting_lines(with_standin.stdout)["STRIPE_SECRET_KEY"]


def test_check_config_needs_a_bucket_for_s3_media(tmp_path):
    result = flask_command(tmp_path, "crowdfund", "check-config", CROWDFUND_ENV="testing", MEDIA_STORAGE="s3")

    assert result.returncode == 1
    assert "S3_BUCKET" in result.stdout.split("essential for testing")[1]


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
