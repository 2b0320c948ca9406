"""`flask crowdfund credit …` commands."""
import click
from flask.cli import AppGroup

credit_cli = AppGroup("credit", help="Founder credit profiles.")


@credit_cli.command("rebuild")
def rebuild():
    """Recompute every founder's profile (idempotent: a second run changes nothing)."""
    from crowdfund.clock import utcnow
    from crowdfund.credit.services import rebuild_all
    from crowdfund.extensions import db

    profiles, changed = rebuild_all(utcnow())
    db.session.commit()
    click.echo(f"{profiles} profiles, {changed} changed")


@credit_cli.command("show")
@click.argument("who")
def show(who):
    """Print the scorecard of a founder (user id or email), as computed now."""
    from crowdfund.accounts.models import User
    from crowdfund.clock import utcnow
    from crowdfund.credit.engine import BANDS, FACTORS
    from crowdfund.credit.services import compute
    from crowdfund.extensions import db

    user = db.session.get(User, int(who)) if who.isdigit() else db.session.execute(
        db.select(User).where(db.func.lower(User.email) == who.strip().lower())).scalar()
    if user is None:
        raise click.ClickException(f"No user {who!r}")
    _facts, card = compute(user.id, utcnow())
    score = "no history yet" if card.score is None else str(card.score)
    click.echo(f"{user.email} (#{user.id}): {score} — {BANDS[card.band].label}")
    for factor in card.factors:
        click.echo(f"  {factor.code:16} {factor.points:5} / {factor.max_points:<4} "
                   f"{FACTORS[factor.code].label}: {factor.value}")
