"""The application factory. It reads like a table of contents: each register_* adds one part."""
from pathlib import Path

from flask import Flask

from crowdfund.extensions import babel, csrf, db, limiter, login_manager, migrate

PACKAGE_DIR = Path(__file__).resolve().parent
# The checkout (Makefile, instance/, bench/) when run from one; site-packages when installed.
PROJECT_DIR = PACKAGE_DIR.parent


def create_app(config=None) -> Flask:
    """Build the app from a config class (or mapping); without one, from CROWDFUND_ENV."""
    app = Flask(__name__)  # templates/ and static/ inside the package, so an installed wheel has them
    load_config(app, config)
    app.logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    register_proxy_fix(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_commands(app)
    register_shellcontext(app)
    register_ticker(app)
    register_celery(app)
    register_page_cache(app)
    return app


def load_config(app, config) -> None:
    import config as config_module

    if config is None:
        config = config_module.config_from_env()
    if isinstance(config, dict):
        app.config.from_object(config_module.Config)
        app.config.update(config)
    else:
        if hasattr(config, "missing_settings") and config.missing_settings():
            missing = "\n  ".join(config.missing_settings())
            raise RuntimeError(f"The production configuration is missing:\n  {missing}\n"
                               "Set these in the environment (`flask crowdfund check-config` lists every setting).")
        app.config.from_object(config)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://"):]
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    for key in ("INSTANCE_DIR", "UPLOAD_DIR"):
        app.config[key] = Path(app.config[key])
    app.config["INSTANCE_DIR"].mkdir(parents=True, exist_ok=True)
    app.config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)


def register_proxy_fix(app) -> None:
    """Behind PROXY_COUNT proxies, take the client's address and scheme from X-Forwarded-For/-Proto
    (never X-Forwarded-Host: links come from PUBLIC_URL); answer only the hosts in TRUSTED_HOSTS."""
    from crowdfund.http_errors import register_trusted_hosts

    register_trusted_hosts(app)
    count = app.config.get("PROXY_COUNT", 0)
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def register_extensions(app) -> None:
    from crowdfund.database import include_object  # also registers the engine and DDL listeners
    from crowdfund.campaigns.derived import register as register_derived_columns

    db.init_app(app)
    register_derived_columns()  # stored Markdown HTML rendered on every flush that changes its source
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"), render_as_batch=True,
                     compare_type=True, include_object=include_object)
    login_manager.init_app(app)
    csrf.init_app(app)
    from crowdfund.i18n import select_locale

    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    from crowdfund.converters import BoundedIntConverter, PlainTextConverter

    app.url_map.converters["default"] = app.url_map.converters["string"] = PlainTextConverter  # no control characters
    app.url_map.converters["int"] = BoundedIntConverter  # ids 1..2^31-1, else 404 (before blueprints)


def register_blueprints(app) -> None:
    from crowdfund.accounts.routes import bp as accounts_bp
    from crowdfund.campaigns.routes import bp as campaigns_bp
    from crowdfund.discovery.routes import bp as discovery_bp
    from crowdfund.media.routes import bp as media_bp
    from crowdfund.moderation.routes import bp as moderation_bp
    from crowdfund.payments.routes import bp as payments_bp
    from crowdfund.pledges.routes import bp as pledges_bp
    from crowdfund.updates.routes import bp as updates_bp
    from crowdfund.comments.routes import bp as comments_bp
    from crowdfund.dashboard.routes import bp as dashboard_bp
    from crowdfund.notifications.routes import bp as notifications_bp
    from crowdfund.payouts.account_routes import bp as payout_accounts_bp
    from crowdfund.payouts.routes import bp as payouts_bp
    from crowdfund.payouts import transparency
    from crowdfund.credit.routes import bp as credit_bp
    from crowdfund.risk.routes import bp as risk_bp
    from crowdfund.credit import reactions as _credit_reactions  # noqa: F401  (registers the outbox observers)
    from crowdfund.risk import reactions as _risk_reactions  # noqa: F401

    for bp in (discovery_bp, accounts_bp, campaigns_bp, moderation_bp, media_bp, pledges_bp, payments_bp, updates_bp,
               comments_bp, dashboard_bp, notifications_bp, payout_accounts_bp, payouts_bp, credit_bp, risk_bp):
        app.register_blueprint(bp)
    transparency.register(app)  # template globals: the campaign page's money section, overdue badges


def register_errorhandlers(app) -> None:
    from crowdfund.http_errors import register
    from crowdfund.logs import register as register_logging

    register(app)
    register_logging(app)  # request ids (X-Request-ID) and JSON log lines


def register_template_helpers(app) -> None:
    """Template filters and globals. Wired here (the web layer), so crowdfund.templating, which
    domain services also use for formatting, imports nothing of the features."""
    from flask_babel import format_date, format_datetime, format_timedelta, get_locale

    from crowdfund.campaigns.models import STATE_LABELS
    from crowdfund.clock import utcnow
    from crowdfund.markdown import render_markdown
    from crowdfund.media.storage import image_url
    from crowdfund.templating import absolute, absolute_url, format_basis_points, format_money, format_time_left

    app.jinja_env.filters.update(
        money=format_money,
        markdown=render_markdown,
        datetime=lambda value, fmt="medium": format_datetime(value, fmt) if value else "",
        date=lambda value, fmt="medium": format_date(value, fmt) if value else "",
        time_left=format_time_left,
        basis_points=format_basis_points,
        timedelta=lambda value: format_timedelta(value, threshold=1),
    )
    app.jinja_env.globals.update(utcnow=utcnow, state_label=STATE_LABELS.__getitem__, get_locale=get_locale,
                                 image_url=image_url, absolute_url=absolute_url, absolute=absolute)
    from crowdfund.personal import register as register_personal

    register_personal(app)  # personal_slot(): the personal parts of pages whose body is shared


def register_security_headers(app) -> None:
    from crowdfund.http_errors import add_security_headers

    app.after_request(add_security_headers)


def register_commands(app) -> None:
    # `flask crowdfund …` is also declared as a flask.commands entry point (setup.cfg), so that
    # `flask crowdfund check-config` works while the app itself refuses to start.
    from crowdfund.cli import crowdfund_cli

    app.cli.add_command(crowdfund_cli)


def register_shellcontext(app) -> None:
    def shell_context():
        from crowdfund.accounts.models import User
        from crowdfund.campaigns.models import Campaign

        return {"db": db, "User": User, "Campaign": Campaign}

    app.shell_context_processor(shell_context)


def register_celery(app) -> None:
    from crowdfund.tasks import init_celery

    init_celery(app)


def register_page_cache(app) -> None:
    from crowdfund.page_cache import register

    register(app)  # last: its before_request runs after the others'


def register_ticker(app) -> None:
    from crowdfund.ticker import start_in_process_ticker

    start_in_process_ticker(app)
