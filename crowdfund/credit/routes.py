"""Pages of crowdfund/credit: the founder profile's context (/u/<id> and "About the founder"),
shipped tiers, reward receipts, business details and campaign reports."""
import statistics
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.exceptions import NotFound

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import RewardTier
from crowdfund.campaigns.services import campaign_for_founder, campaign_for_viewer
from crowdfund.clock import utcnow
from crowdfund.credit import business, engine, receipts, reports, services
from crowdfund.credit.forms import BusinessCheckForm, BusinessForm, ReceiptForm, ReportForm, ResolveReportForm
from crowdfund.credit.models import CreditHistoryPoint, CreditProfile
from crowdfund.errors import IllegalTransition, NotAllowed
from crowdfund.extensions import db
from crowdfund.moderation.models import CampaignReport
from crowdfund.moderation.services import require_moderator
from crowdfund.payouts.accounts import can_receive_transfers
from crowdfund.pledges.services import pledge_for_backer
from crowdfund.templating import format_money

bp = Blueprint("credit", __name__)



# --- The profile ------------------------------------------------------------------------------------

@dataclass
class FactorRow:
    code: str
    label: str
    value: str
    points: int
    max_points: int
    explanation: str
    improve: str


def _factor_rows(profile: CreditProfile | None) -> list[FactorRow]:
    """Each stored factor with its label, explanation and advice (engine.FACTORS when it knows the
    code, else what the stored factor carries)."""
    known = engine.FACTORS
    rows = []
    for factor in (profile.factors if profile is not None else None) or []:
        info = known.get(factor.get("code"))
        rows.append(FactorRow(
            code=factor.get("code", ""), value=_factor_value(factor),
            points=int(factor.get("points") or 0), max_points=int(factor.get("max_points") or 0),
            label=str(info.label) if info else str(factor.get("label") or factor.get("code", "")),
            explanation=str(info.explanation) if info else str(factor.get("explanation", "")),
            improve=str(info.improve) if info else str(factor.get("improve", ""))))
    return rows


def _factor_value(factor: dict) -> str:
    """The value text, rendered now from the stored numbers; a profile stored before numbers were
    (round 1) carries its text instead."""
    if isinstance(factor.get("numbers"), dict):
        return engine.factor_value(str(factor.get("code", "")), factor["numbers"])
    return str(factor.get("value", ""))


def _ratio(part: int, whole: int) -> str:
    return _("%(part)d of %(whole)d (%(percent)s)", part=part, whole=whole,
             percent=f"{round(100 * part / whole)} %") if whole else _("%(part)d of 0", part=part)


def _money_share(released: dict, backed: dict) -> str:
    """"$800.00 of $1,000.00 (80 %)" per currency released."""
    if not released:
        return _("no money released yet")
    parts = []
    for currency, amount in sorted(released.items()):
        covered = int(backed.get(currency, 0))
        parts.append(_("%(backed)s of %(released)s (%(percent)s)", backed=format_money(covered, currency),
                       released=format_money(int(amount), currency),
                       percent=f"{round(100 * covered / amount) if amount else 0} %"))
    return "; ".join(parts)


def _days(values: list) -> str:
    return ", ".join(str(round(v)) for v in values) if values else "—"


def fact_rows(facts: dict) -> list[tuple[str, str]]:
    """(plain label, value as shown) for every number the profile is built from, grouped as the
    profile page shows them."""
    f = engine.FounderFacts.from_dict(facts or {})
    gaps = [float(g) for g in f.update_gaps_days]
    milestones_done = f.milestones_on_time + f.milestones_late
    return [
        (_("Campaigns launched"), str(f.campaigns_launched)),
        (_("Campaigns funded"), str(f.campaigns_funded)),
        (_("Campaigns failed (goal not reached)"), str(f.campaigns_failed)),
        (_("Campaigns cancelled"), str(f.campaigns_cancelled)),
        (_("Campaigns abandoned"), str(f.campaigns_abandoned)),
        (_("Campaigns suspended by moderators"), str(f.campaigns_suspended)),
        (_("Milestones delivered on time"), _ratio(f.milestones_on_time, milestones_done)),
        (_("Milestones delivered late"), str(f.milestones_late)),
        (_("Days late, per late milestone"), _days(f.late_days)),
        (_("Milestones overdue (date passed, not delivered)"), str(f.milestones_overdue)),
        (_("Days overdue, per overdue milestone"), _days(f.overdue_days)),
        (_("Released money backed by spend reports"), _money_share(f.released, f.released_backed)),
        (_("Budget lines of funded campaigns"), str(f.budget_lines)),
        (_("Budget lines overspent"), str(f.budget_lines_over)),
        (_("Budget lines within budget"), str(f.budget_lines_under)),
        (_("Median days between updates during delivery"),
         str(round(statistics.median(gaps), 1)) if gaps else "—"),
        (_("Days since the last update, while milestones are open"),
         str(round(f.silence_days)) if f.silence_days else "—"),
        (_("Update requests answered within 14 days"), _ratio(f.update_requests_answered, f.update_requests)),
        (_("Pledges collected"), str(f.pledges_collected)),
        (_("Refund rate"), _ratio(f.refunds, f.pledges_collected)),
        (_("Dispute rate"), _ratio(f.disputes, f.pledges_collected)),
        (_("Upheld reports"), str(f.reports_upheld)),
        (_("Reward tiers marked shipped"), str(f.tiers_shipped)),
        (_("Backers who confirmed receiving their reward"), str(f.receipts_received)),
        (_("Backers who say their reward did not arrive"), str(f.receipts_not_received)),
    ]


def key_numbers(facts: dict) -> list[tuple[str, str]]:
    """The three or four numbers "About the founder" shows on the campaign page."""
    f = engine.FounderFacts.from_dict(facts or {})
    return [
        (_("Campaigns funded"), _("%(funded)d of %(launched)d launched", funded=f.campaigns_funded,
                                  launched=f.campaigns_launched)),
        (_("Milestones on time"), _ratio(f.milestones_on_time, f.milestones_on_time + f.milestones_late
                                         + f.milestones_overdue)),
        (_("Rewards received"), _ratio(f.receipts_received, f.receipts_received + f.receipts_not_received)),
        (_("Refund rate"), _ratio(f.refunds, f.pledges_collected)),
    ] + _current_trouble(f)


def _current_trouble(f: engine.FounderFacts) -> list[tuple[str, str]]:
    """Overdue milestones and a silence of over SILENCE_GRACE days, only when there are some."""
    rows = []
    if f.milestones_overdue and f.overdue_days:
        rows.append((_("Milestones overdue now"), _("%(count)d (the oldest %(days)s)", count=f.milestones_overdue,
                                                   days=ngettext("%(num)d day", "%(num)d days", max(f.overdue_days)))))
    elif f.milestones_overdue:  # stored before days overdue were
        rows.append((_("Milestones overdue now"), str(f.milestones_overdue)))
    if f.silence_days > engine.SILENCE_GRACE:
        rows.append((_("No update for"), ngettext("%(num)d day", "%(num)d days", int(f.silence_days))))
    return rows


CHART_W, CHART_H, CHART_PAD = 600, 200, 36


@dataclass
class ChartPoint:
    x: int
    y: int
    at: datetime
    score: int


def history_chart(points: list[CreditHistoryPoint]) -> dict | None:
    """Geometry of the score-over-time chart (0..1000 upwards, time to the right), or None without
    two scored points."""
    scored = [p for p in points if p.score is not None]
    if not scored:
        return None
    first, last = scored[0].at, scored[-1].at
    span = (last - first).total_seconds() or 1
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    drawn = [ChartPoint(x=CHART_PAD + (round(inner_w * (p.at - first).total_seconds() / span) if len(scored) > 1
                                       else inner_w // 2),
                        y=CHART_PAD + inner_h - inner_h * max(0, min(p.score, 1000)) // 1000, at=p.at, score=p.score)
             for p in scored]
    return {"width": CHART_W, "height": CHART_H, "points": drawn,
            "line": " ".join(f"{p.x},{p.y}" for p in drawn),
            "ticks": [(CHART_PAD + inner_h - inner_h * v // 1000, v) for v in (0, 250, 500, 750, 1000)],
            "left": CHART_PAD, "right": CHART_W - CHART_PAD}


def profile_context(user: User) -> dict:
    """What accounts/profile.html shows of the user's credit profile."""
    profile = services.profile_of(user.id, utcnow())  # the stored one (one query); computed only if none
    own = current_user.is_authenticated and current_user.id == user.id
    moderator = current_user.is_authenticated and current_user.is_moderator
    history = services.history_of(user.id)
    factors = _factor_rows(profile)
    return {
        "credit": profile, "credit_factors": factors, "credit_facts": fact_rows(profile.facts if profile else {}),
        "credit_history": [p for p in history if p.score is not None], "credit_chart": history_chart(history),
        "credit_improve": [f for f in factors if f.points < f.max_points and f.improve] if own else [],
        "credit_own": own, "credit_moderator": moderator,
        "business": business.business_of(user.id), "payout_verified": can_receive_transfers(user.id),
        "account_age_days": max((utcnow() - user.created_at).days, 0),
        "check_form": BusinessCheckForm(formdata=None) if moderator else None,
    }


def founder_summary(founder_id: int) -> dict:
    """"About the founder" on the campaign page: the stored profile (one query, never recomputed
    here) and its key numbers."""
    profile = db.session.get(CreditProfile, founder_id)
    return {"profile": profile, "numbers": key_numbers(profile.facts) if profile is not None else []}


@bp.app_template_global()
def credit_band_label(band: str | None) -> str:
    """The band's name as shown ("Good"); an unknown code as it is."""
    known = engine.BANDS.get(band or "new")
    return str(known.label) if known is not None else str(band)


# --- Shipped tiers and receipts ---------------------------------------------------------------------

@bp.post("/c/<slug>/tiers/<int:tier_id>/shipped")
@login_required
def mark_shipped(slug, tier_id):
    campaign = campaign_for_founder(slug, current_user, with_details=False)
    tier = db.session.execute(db.select(RewardTier).where(
        RewardTier.id == tier_id, RewardTier.campaign_id == campaign.id)).scalar_one_or_none()
    if tier is None:
        raise NotFound()
    if receipts.mark_tier_shipped(campaign, tier, utcnow()):
        db.session.commit()
        flash(_("“%(title)s” is marked shipped; its backers can now confirm receipt.", title=tier.title), "success")
    return redirect(url_for("dashboard.show", slug=campaign.slug), 303)


@bp.app_template_global()
def reward_receipt_state(pledge, tier) -> dict:
    """For the backer's pledge page: whether they may confirm receipt, what they said so far, and
    the form (filled in with it)."""
    is_open = receipts.receipt_open(pledge, tier, utcnow())
    receipt = receipts.receipt_of(pledge.id) if is_open else None
    data = {"state": receipt.state, "note": receipt.note} if receipt is not None else None
    return {"open": is_open, "receipt": receipt,
            "form": ReceiptForm(formdata=None, data=data) if is_open else None}


@bp.app_template_global()
def reward_receipt_counts(campaign_id: int) -> dict:
    return receipts.receipt_counts(campaign_id)


@bp.post("/pledges/<int:pledge_id>/receipt")
@login_required
def mark_receipt(pledge_id):
    pledge = pledge_for_backer(pledge_id, current_user)
    now = utcnow()
    if not receipts.receipt_open(pledge, pledge.reward_tier, now):
        raise IllegalTransition(_("You can confirm your reward once the founder marks it shipped or its "
                                  "estimated delivery month is over, for a pledge that was charged."))
    form = ReceiptForm()
    if not form.validate_on_submit():
        return render_template("pledges/show.html", pledge=pledge, campaign=pledge.campaign,
                               tier=pledge.reward_tier, now=now, receipt_form=form), 422
    receipts.mark_receipt(pledge, pledge.reward_tier, current_user, form.state.data, form.note.data or "", now)
    db.session.commit()
    flash(_("Thank you: the founder and other backers can see your answer in the founder's record."), "success")
    return redirect(url_for("pledges.show", pledge_id=pledge.id), 303)


# --- Business details -------------------------------------------------------------------------------

@bp.route("/me/business", methods=["GET", "POST"])
@login_required
def business_details():
    details = business.business_of(current_user.id)
    form = BusinessForm(obj=details if request.method == "GET" else None)
    if form.validate_on_submit():
        business.declare(current_user, form.name.data, form.registration_number.data or "",
                         form.address.data, utcnow())
        db.session.commit()
        flash(_("Your business details are saved. They show as declared until a moderator checks them."),
              "success")
        return redirect(url_for("credit.business_details"), 303)
    return render_template("credit/business.html", form=form, details=details), \
        422 if request.method == "POST" else 200


@bp.post("/moderation/users/<int:user_id>/business/check")
@login_required
def check_business(user_id):
    require_moderator(current_user)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    form = BusinessCheckForm()
    if not form.validate_on_submit():
        return profile_page(user, 422, check_form=form)
    business.check(current_user, user.id, form.note.data, utcnow())
    db.session.commit()
    flash(_("The business details are marked checked."), "success")
    return redirect(url_for("accounts.profile", user_id=user.id), 303)


def profile_page(user: User, status: int = 200, **overrides):
    """/u/<id>: the user's public campaigns and credit profile (overrides: a form shown with errors)."""
    from crowdfund.campaigns.services import public_campaigns_of
    from crowdfund.pledges.services import backed_campaign_count

    campaigns = public_campaigns_of(user.id)
    context = {**profile_context(user), **overrides}
    return render_template("accounts/profile.html", user=user, campaigns=campaigns,
                           backed_count=backed_campaign_count(user.id), **context), status


# --- Campaign reports -------------------------------------------------------------------------------

@bp.route("/c/<slug>/report", methods=["GET", "POST"])
@login_required
def report_campaign(slug):
    campaign = campaign_for_viewer(slug, current_user)
    if not campaign.is_public:  # a draft or one in review: moderators see it, nobody reports it
        raise NotFound()
    if campaign.founder_id == current_user.id:
        raise NotAllowed(_("You cannot report your own campaign."))
    existing = reports.open_report_of(campaign.id, current_user.id)
    form = ReportForm()
    if existing is None and form.validate_on_submit():
        reports.create_report(campaign, current_user, form.reason.data, utcnow())
        db.session.commit()
        flash(_("Thank you. A moderator will look at your report."), "success")
        return redirect(url_for("campaigns.show", slug=campaign.slug), 303)
    status = 200
    if request.method == "POST":
        status = 409 if existing is not None else 422
    return render_template("credit/report.html", campaign=campaign, form=form, existing=existing), status


@bp.get("/moderation/reports")
@login_required
def report_queue():
    require_moderator(current_user)
    return _report_queue_page()


def _report_queue_page(status: int = 200, failed: tuple[int, ResolveReportForm] | None = None):
    rows = reports.open_reports()
    forms = {report.id: ResolveReportForm(prefix=f"report-{report.id}", formdata=None) for report, _c in rows}
    if failed is not None:
        forms[failed[0]] = failed[1]
    reporters = {u.id: u for u in db.session.execute(
        db.select(User).where(User.id.in_({report.reporter_id for report, _c in rows}))).scalars()} if rows else {}
    return render_template("credit/reports.html", rows=rows, forms=forms, reporters=reporters), status


@bp.post("/moderation/reports/<int:report_id>/resolve")
@login_required
def resolve_report(report_id):
    require_moderator(current_user)
    report = db.session.get(CampaignReport, report_id)
    if report is None:
        raise NotFound()
    form = ResolveReportForm(prefix=f"report-{report.id}")
    if not form.validate_on_submit():
        return _report_queue_page(422, (report.id, form))
    reports.resolve(report, current_user, form.outcome.data, form.note.data, utcnow())
    db.session.commit()
    flash(_("The report is upheld.") if report.outcome == "upheld" else _("The report is dismissed."), "success")
    return redirect(url_for("credit.report_queue"), 303)
