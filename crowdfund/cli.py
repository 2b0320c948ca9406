"""`flask crowdfund …` commands."""
from datetime import datetime, timezone

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup

from crowdfund.accounts import services as account_services
from crowdfund.accounts.models import ROLES
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db

crowdfund_cli = AppGroup("crowdfund", help="Manage the crowdfund platform.")


def _add_feature_commands() -> None:
    from crowdfund.credit.commands import credit_cli
    from crowdfund.risk.commands import risk_cli

    crowdfund_cli.add_command(credit_cli)
    crowdfund_cli.add_command(risk_cli)


_add_feature_commands()


@crowdfund_cli.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), help="Role of the account (a new one is a backer by default).")
@click.option("--name", "display_name", help="Display name (default: the part of the email before @).")
@click.option("--password", help="Password of a new account (asked for when not given).")
def create_user(email, role, display_name, password):
    """Create a verified account with a role, or change the role of an existing one."""
    user = account_services.find_user_by_email(email)
    try:
        if user is None:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError as error:
                raise click.BadParameter(str(error), param_hint="EMAIL") from None
            if password is None:
                password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            role = role or "backer"
            user = account_services.register_user(email, display_name or email.split("@")[0], password, role=role)
            account_services.mark_email_verified(user)
            message = f"Created {role} {user.email}."
        elif role is None:
            raise click.UsageError(f"{user.email} already exists; give --role to change its role.")
        else:
            # Changing a role never needs (or silently changes) the password.
            account_services.set_role(user, role)
            message = f"{user.email} is now a {role}."
            if password is not None:
                message += " Its password is unchanged; use the password reset to change it."
    except ValidationFailed as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(message)


@crowdfund_cli.command("tick")
@click.option("--now", "now_text", help="Run as if it were this UTC time (ISO 8601), e.g. 2027-01-31T12:00.")
def tick(now_text):
    """Run the periodic jobs once: close campaigns whose deadline passed."""
    from crowdfund.ticker import run_periodic_jobs

    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter("use ISO 8601, e.g. 2027-01-31T12:00", param_hint="--now") from None
        if now.tzinfo is not None:  # an offset such as +08:00 is honoured, not dropped
            now = now.astimezone(timezone.utc).replace(tzinfo=None)
    result = run_periodic_jobs(now)
    click.echo(f"Closed {result['successful']} successful and {result['failed']} failed campaign(s).")


@crowdfund_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo(if_empty):
    """Fill the database with a believable demo platform and print the demo logins."""
    from crowdfund.demo import load_demo_data

    if if_empty and account_services.count_users():
        click.echo("Demo data not loaded: the database already has users.")
        return
    logins = load_demo_data()
    db.session.commit()
    click.echo("Demo data loaded. Log in as:")
    for role, email, password in logins:
        click.echo(f"  {role:<10} {email:<32} password: {password}")


@crowdfund_cli.command("reconcile")
@click.argument("slug")
def reconcile(slug):
    """Compare a campaign's ledger with Stripe, and its stored totals with its pledges; print every
    difference (exit status 1 if any)."""
    from crowdfund import money
    from crowdfund.campaigns.derived import totals_differences
    from crowdfund.campaigns.models import Campaign
    from crowdfund.payments.gateway import GatewayError
    from crowdfund.payments.reconcile import reconcile_campaign

    campaign = db.session.execute(db.select(Campaign).where(Campaign.slug == slug)).scalar_one_or_none()
    if campaign is None:
        raise click.BadParameter(f"no campaign has the slug {slug!r}", param_hint="SLUG")
    # The totals shown on every page (campaign.pledged_amount, backer_count) against the pledges.
    totals = totals_differences([campaign.id])
    for _id, _slug, (stored, stored_backers), (counted, counted_backers) in totals:
        click.echo(f"campaign {campaign.slug}: the stored totals say "
                   f"{money.format_money(stored, campaign.currency)} from {stored_backers} backer(s), the pledges "
                   f"{money.format_money(counted, campaign.currency)} from {counted_backers} backer(s) "
                   "(`flask crowdfund derived refresh` recomputes them)")
    try:
        differences = reconcile_campaign(campaign)
    except GatewayError as error:
        raise click.ClickException(f"Stripe could not be asked: {error}") from None
    if not differences and not totals:
        click.echo(f"{campaign.slug}: ledger and Stripe agree; the stored totals match the pledges.")
        return
    for difference in differences:
        click.echo(difference.message)
    if differences:
        click.echo(f"{len(differences)} difference(s) between the ledger and Stripe.", err=True)
    if totals:
        click.echo("The stored totals differ from the pledges.", err=True)
    click.get_current_context().exit(1)


derived_cli = AppGroup("derived", help="Columns computed from others and stored (totals, HTML, trending).")
crowdfund_cli.add_command(derived_cli)


@derived_cli.command("refresh")
def derived_refresh():
    """Recompute every campaign's totals, stored Markdown HTML and trending score, and commit."""
    from crowdfund.campaigns.derived import refresh_all

    refresh_all()
    db.session.commit()
    click.echo("Totals, stored HTML and trending recomputed for every campaign.")


def _masked_url(url) -> str:
    """A URL with its password replaced by ***, for printing."""
    if not url:
        return "missing"
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(str(url))
        if parts.password is None:
            return str(url)
        userinfo = f"{parts.username or ''}:***"
        host = parts.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "set (unparseable URL, not shown)"


def _is_set(value) -> str:
    return "set" if value else "missing"


@crowdfund_cli.command("check-config", with_appcontext=False)
def check_config():
    """Print the important settings (never a secret's value) and what is missing.

    Runs without building the app, so it also explains why a production app refuses to start.
    Exits with status 1 when a setting essential for the current CROWDFUND_ENV is missing."""
    import config as config_module

    env_name = config_module._env("CROWDFUND_ENV", "development")
    config_class = config_module.CONFIGS.get(env_name)
    cfg = {name: getattr(config_class or config_module.Config, name)
           for name in dir(config_class or config_module.Config) if name.isupper()}
    secret_key = cfg.get("SECRET_KEY")
    if not secret_key:
        secret_state = "missing"
    elif secret_key == "dev-only-not-secret":
        secret_state = "missing (the development default is in use)"
    else:
        secret_state = "set"
    media = cfg.get("MEDIA_STORAGE", "local")
    rows = [
        ("CROWDFUND_ENV", env_name),
        ("SECRET_KEY", secret_state),
        ("DATABASE_URL", _masked_url(cfg.get("SQLALCHEMY_DATABASE_URI"))),
        ("CELERY_BROKER_URL", _masked_url(cfg.get("CELERY_BROKER_URL")) if cfg.get("CELERY_BROKER_URL")
         else "missing (tasks run in the web process)"),
        ("RATELIMIT_STORAGE_URI", _masked_url(cfg.get("RATELIMIT_STORAGE_URI"))),
        ("MAIL_SERVER", cfg.get("MAIL_SERVER") or f"missing (mail backend: {cfg.get('MAIL_BACKEND')})"),
        ("STRIPE_SECRET_KEY", _is_set(cfg.get("STRIPE_SECRET_KEY"))
         + ("" if cfg.get("STRIPE_SECRET_KEY") else " (the Stripe stand-in is used: test mode)")),
        ("STRIPE_WEBHOOK_SECRET", _is_set(cfg.get("STRIPE_WEBHOOK_SECRET"))),
        ("MEDIA_STORAGE", media),
        ("S3_BUCKET", cfg.get("S3_BUCKET") or ("missing" if media == "s3" else "not used")),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name.ljust(width)}  {value}")

    essential = []
    if config_class is None:
        essential.append(f"CROWDFUND_ENV (must be one of {', '.join(config_module.CONFIGS)})")
    elif hasattr(config_class, "missing_settings"):
        essential.extend(config_class.missing_settings())
    if media == "s3" and not cfg.get("S3_BUCKET") and not any(e.startswith("S3_BUCKET") for e in essential):
        essential.append("S3_BUCKET (MEDIA_STORAGE is s3)")

    # In development and tests, also what a production deployment would still need.
    recommended = [item for item in config_module.ProductionConfig.missing_settings() if item not in essential]

    click.echo("")
    if essential:
        click.echo(f"Missing (essential for {env_name}; the app refuses to start without them):")
        for item in essential:
            click.echo(f"  {item}")
    else:
        click.echo(f"Nothing essential for {env_name} is missing.")
    if recommended and env_name != "production":
        click.echo("Missing for production:")
        for item in recommended:
            click.echo(f"  {item}")
    if essential:
        click.get_current_context().exit(1)
