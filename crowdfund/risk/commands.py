"""`flask crowdfund risk …` commands."""
import sys

import click
from flask.cli import AppGroup

risk_cli = AppGroup("risk", help="Risk early-warning.")


@risk_cli.command("explain")
@click.argument("slug")
@click.option("--stored", is_flag=True, help="Print the stored assessment without recomputing it first.")
def explain_command(slug, stored):
    """Print a campaign's risk score and every flag: code, points, phase, the numbers, label and
    explanation. A draft's is computed and printed without being stored."""
    from crowdfund.campaigns.models import Campaign
    from crowdfund.clock import utcnow
    from crowdfund.extensions import db
    from crowdfund.risk.assessment import assess, explain, explain_unstored

    campaign = db.session.execute(db.select(Campaign).where(Campaign.slug == slug.strip())).scalar_one_or_none()
    if campaign is None:
        click.echo(f"No campaign with the slug {slug!r}.", err=True)
        sys.exit(2)
    if campaign.state == "draft" and not stored:  # printed, never stored: drafts stay out of the queue
        text = explain_unstored(campaign, utcnow())
        db.session.rollback()
        click.echo(text, nl=False)
        return
    if not stored:
        assess(campaign.id, utcnow())
        db.session.commit()
    click.echo(explain(campaign), nl=False)


@risk_cli.command("assess")
@click.argument("slug", required=False)
@click.option("--all", "everything", is_flag=True, help="Every campaign still open to risk, not only those due today.")
def assess_command(slug, everything):
    """Recompute risk: of one campaign (SLUG), of the campaigns due today, or --all of them."""
    from crowdfund.campaigns.models import Campaign
    from crowdfund.clock import utcnow
    from crowdfund.extensions import db
    from crowdfund.risk.assessment import assess, settings_from_config
    from crowdfund.risk.jobs import due_campaigns

    now = utcnow()
    if slug:
        campaign_id = db.session.scalar(db.select(Campaign.id).where(Campaign.slug == slug.strip()))
        if campaign_id is None:
            click.echo(f"No campaign with the slug {slug!r}.", err=True)
            sys.exit(2)
        ids = [campaign_id]
    elif everything:
        ids = list(db.session.execute(db.select(Campaign.id).where(Campaign.state != "draft")
                                      .order_by(Campaign.id)).scalars())
    else:
        ids = due_campaigns(now, limit=None)
    settings = settings_from_config()
    flagged = 0
    for campaign_id in ids:
        flagged += assess(campaign_id, now, settings).score >= settings.hold_threshold
        db.session.commit()
    click.echo(f"{len(ids)} campaigns assessed, {flagged} at or above {settings.hold_threshold}")
