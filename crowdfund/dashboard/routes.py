"""The founder's dashboard of one campaign and the backer CSV export: that campaign's founder only
(anyone else, moderators included, gets a 404)."""
from babel.dates import format_skeleton
from babel.numbers import format_compact_currency
from flask import Blueprint, current_app, make_response, render_template, request
from flask_babel import get_locale
from flask_login import current_user, login_required

from crowdfund import money
from crowdfund.campaigns.services import campaign_for_founder
from crowdfund.clock import utcnow
from crowdfund.dashboard import chart, services
from crowdfund.database import requested_page
from crowdfund.extensions import db
from crowdfund.settlement.fixing import settlement_summary
from crowdfund.pledges.services import country_codes, pledged_totals

bp = Blueprint("dashboard", __name__)

BACKERS_PER_PAGE = 50


@bp.app_template_filter("short_day")
def short_day(value) -> str:
    """A date as the locale writes a day of a month without the year ("May 1", "5月1日")."""
    return format_skeleton("MMMd", value, locale=str(get_locale() or "en"))


@bp.app_template_filter("money_compact")
def money_compact(minor: int, currency: str) -> str:
    """A round amount for an axis label ("$1.5K", "¥2万")."""
    return format_compact_currency(money.to_decimal(minor, currency), currency, locale=str(get_locale() or "en"),
                                   fraction_digits=1)


@bp.get("/c/<slug>/dashboard")
@login_required
def show(slug):
    campaign = campaign_for_founder(slug, current_user, with_details=False)
    state = services.check_state_filter(request.args.get("state"))
    now = utcnow()
    pledged, backers = pledged_totals([campaign.id]).get(campaign.id, (0, 0))
    days = services.funding_by_day(campaign, now.date())
    span = services.chart_days(campaign, now.date())
    funding_chart = chart.build_chart(days, span[0], span[2], campaign.goal, campaign.currency) if span else None
    page = db.paginate(services.backers_query(campaign, state), page=requested_page(request.args),
                       per_page=BACKERS_PER_PAGE, error_out=False)
    return render_template(
        "dashboard/show.html", campaign=campaign, now=now, pledged=pledged, backers=backers,
        days=days, chart=funding_chart,
        tiers=services.pledges_by_tier(campaign), by_state=services.totals_by_state(campaign),
        summary=settlement_summary(campaign), page=page, state=state, listed_states=services.LISTED_STATES,
        countries=country_codes())


@bp.get("/c/<slug>/dashboard/backers.csv")
@login_required
def backers_csv(slug):
    campaign = campaign_for_founder(slug, current_user, with_details=False)
    state = services.check_state_filter(request.args.get("state"))
    response = make_response(services.backers_csv(campaign, state))
    response.content_type = "text/csv; charset=utf-8"
    name = f"{campaign.slug}-backers{'-' + state if state else ''}-{utcnow():%Y-%m-%d}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"  # names and email addresses
    current_app.logger.info("Backer CSV of campaign %s exported by user %s", campaign.id, current_user.id)
    return response
