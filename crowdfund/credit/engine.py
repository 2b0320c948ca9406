"""The founder scorecard, as pure functions of FounderFacts (no database, no Flask): the app
(crowdfund/credit/facts.py gathers the facts from the database) and the backtest (bench/risk.py,
which simulates them) run the same code. Every factor's points are documented in docs/credit.md.

CONTRACT (shared by crowdfund/credit, bench/risk.py and the templates):
- FounderFacts: every number a profile is built from (shown to backers as they are).
- scorecard(facts) -> Scorecard: score None ("no history yet") until the founder has a campaign
  with an outcome (funded, failed, cancelled, abandoned, suspended); otherwise the sum of the
  factors' points, clamped to 0..1000. Each Factor carries its code, points, max_points and the
  numbers it was computed from (a small dict, stored as is); factor_value(code, numbers) renders
  them as text when shown (Factor.value does the same), in the reader's locale. FACTORS[code] gives
  its label, explanation and "how to improve" (lazy translations, rendered by templates).
"""
from dataclasses import asdict, dataclass, field
from statistics import median

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext


@dataclass
class FounderFacts:
    # identity and standing
    account_age_days: int = 0
    email_verified: bool = False
    payout_verified: bool = False  # a Connect account that can receive transfers
    business_declared: bool = False
    business_checked: bool = False  # a moderator checked the declaration against a document
    # delivery record
    campaigns_launched: int = 0
    campaigns_funded: int = 0
    campaigns_failed: int = 0
    campaigns_cancelled: int = 0
    campaigns_abandoned: int = 0
    campaigns_suspended: int = 0
    milestones_on_time: int = 0  # completed on or before their (first) due date
    milestones_late: int = 0  # completed after it
    late_days: list[int] = field(default_factory=list)  # days late, one per late milestone
    milestones_overdue: int = 0  # due date passed, not completed
    overdue_days: list[int] = field(default_factory=list)  # days past the due date, one per overdue milestone
    # money released to the founder, and how much of it spend reports account for (minor units, per currency)
    released: dict[str, int] = field(default_factory=dict)
    released_backed: dict[str, int] = field(default_factory=dict)
    budget_lines: int = 0  # budget lines of funded campaigns
    budget_lines_over: int = 0  # spend reported above the line's amount
    budget_lines_under: int = 0  # spend reported, at or below the line's amount
    # communication
    update_gaps_days: list[float] = field(default_factory=list)  # between updates during delivery
    silence_days: float = 0.0  # days since the last update of a funded campaign whose milestones are open
    update_requests: int = 0
    update_requests_answered: int = 0  # an update followed within 14 days
    # backers' side
    pledges_collected: int = 0
    refunds: int = 0
    disputes: int = 0
    reports_upheld: int = 0
    tiers_shipped: int = 0
    receipts_received: int = 0
    receipts_not_received: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FounderFacts":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Factor:
    code: str
    points: int
    max_points: int
    numbers: dict = field(default_factory=dict)  # the numbers it was computed from; {} when neutral

    @property
    def value(self) -> str:
        """The numbers as shown ("3 on time, 1 late, 0 overdue"), in the current locale."""
        return factor_value(self.code, self.numbers)


@dataclass
class Scorecard:
    score: int | None
    band: str  # "new", "weak", "fair", "good", "strong"
    factors: list[Factor]


@dataclass(frozen=True)
class FactorText:
    label: object  # lazy translation
    explanation: object
    improve: object


@dataclass(frozen=True)
class Band:
    low: int | None  # lowest score in the band; None for "new"
    high: int | None
    label: object


SCORE_MIN, SCORE_MAX = 0, 1000
ANSWER_DAYS = 14  # an update request counts as answered by an update within this many days

BANDS: dict[str, Band] = {
    "new": Band(None, None, _l("No history yet")),
    "weak": Band(0, 399, _l("Weak")),
    "fair": Band(400, 599, _l("Fair")),
    "good": Band(600, 799, _l("Good")),
    "strong": Band(800, 1000, _l("Strong")),
}

FACTORS: dict[str, FactorText] = {
    "email_verified": FactorText(
        _l("Email address verified"),
        _l("Backers and the platform can reach the founder at a working address."),
        _l("Confirm your email address from the link we sent you (Account settings)."),
    ),
    "payout_verified": FactorText(
        _l("Payout account verified"),
        _l("The payment provider checked the founder's identity and bank account before any money is paid out."),
        _l("Finish the payout account onboarding so it can receive transfers."),
    ),
    "account_age": FactorText(
        _l("Account age"),
        _l("Older accounts have a longer record on the platform; brand-new accounts are a common sign of fraud."),
        _l("This grows by itself as your account gets older."),
    ),
    "business": FactorText(
        _l("Business details"),
        _l("Whether the founder declared who is behind the campaign, and whether a moderator checked it against a document."),
        _l("Declare your business details on your profile and send a document so a moderator can check them."),
    ),
    "outcomes": FactorText(
        _l("Campaign outcomes"),
        _l("Funded campaigns count for the founder; cancelled, abandoned and especially suspended ones count against. "
           "Falling short of a goal costs little: it is no sign of dishonesty."),
        _l("Set goals you can reach, and deliver the campaigns you start rather than cancelling or abandoning them."),
    ),
    "milestones": FactorText(
        _l("Milestones on time"),
        _l("Whether the founder completes the delivery milestones they announced by their due dates."),
        _l("Set realistic due dates and report each milestone complete when it is done; finish overdue milestones first."),
    ),
    "spend_backed": FactorText(
        _l("Released money backed by spend reports"),
        _l("The share of the money paid out to the founder that their spend reports account for."),
        _l("Post a spend report for every release, covering what the money was spent on."),
    ),
    "budget": FactorText(
        _l("Budget kept"),
        _l("The share of reported budget lines where spending stayed within the amount announced."),
        _l("Plan budget lines with a margin and keep spending within them."),
    ),
    "update_cadence": FactorText(
        _l("Regular updates"),
        _l("The median number of days between updates while a funded campaign is being delivered."),
        _l("Post an update at least every two weeks while you deliver, even when there is little news."),
    ),
    "update_requests": FactorText(
        _l("Update requests answered"),
        _l("The share of backers' update requests followed by an update within 14 days."),
        _l("When backers ask for news, post an update within two weeks."),
    ),
    "refunds": FactorText(
        _l("Refund rate"),
        _l("The share of collected pledges that were refunded."),
        _l("Describe rewards accurately and deliver them, so backers do not need to ask for their money back."),
    ),
    "disputes": FactorText(
        _l("Dispute rate"),
        _l("The share of collected pledges that backers disputed with their bank."),
        _l("Answer backers' questions quickly and offer a refund before they turn to their bank."),
    ),
    "reports_upheld": FactorText(
        _l("Upheld reports"),
        _l("Reports about the founder's campaigns that a moderator upheld."),
        _l("Follow the platform rules; an upheld report stays on the record."),
    ),
    "receipts": FactorText(
        _l("Rewards received"),
        _l("Of the backers who said whether their reward arrived, the share who received it."),
        _l("Ship rewards, mark the tiers shipped, and help backers whose reward did not arrive."),
    ),
}


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _identity(f: FounderFacts) -> list[Factor]:
    age = _clamp(f.account_age_days // 12, 0, 30)
    business = 40 if f.business_checked else 15 if f.business_declared else 0
    return [
        Factor("email_verified", 40 if f.email_verified else 0, 40, {"verified": f.email_verified}),
        Factor("payout_verified", 40 if f.payout_verified else 0, 40, {"verified": f.payout_verified}),
        Factor("account_age", age, 30, {"days": f.account_age_days}),
        Factor("business", business, 40, {"declared": f.business_declared, "checked": f.business_checked}),
    ]


def _outcomes(f: FounderFacts) -> Factor:
    raw = (60 + 25 * f.campaigns_funded - 5 * f.campaigns_failed - 20 * f.campaigns_cancelled
           - 60 * f.campaigns_abandoned - 100 * f.campaigns_suspended)
    return Factor("outcomes", _clamp(raw, -150, 160), 160, {
        "funded": f.campaigns_funded, "failed": f.campaigns_failed, "cancelled": f.campaigns_cancelled,
        "abandoned": f.campaigns_abandoned, "suspended": f.campaigns_suspended})


def late_points(days_late: int) -> int:
    """Points for one milestone completed days_late days after its due date."""
    return max(0, 10 - days_late // 3)


OVERDUE_BASE, OVERDUE_MAX = 30, 90  # points an overdue milestone costs: 30 + 1 per day overdue, up to 90


def overdue_points(days_overdue: int) -> int:
    """Points (negative) for one milestone whose due date passed days_overdue days ago, not completed."""
    return -min(OVERDUE_MAX, OVERDUE_BASE + max(0, days_overdue))


def _milestones(f: FounderFacts) -> Factor:
    overdue_days = list(f.overdue_days)[:f.milestones_overdue]
    overdue_days += [0] * (f.milestones_overdue - len(overdue_days))  # days unknown: counted as just overdue
    raw = (40 + 15 * f.milestones_on_time + sum(late_points(d) for d in f.late_days)
           + sum(overdue_points(d) for d in overdue_days))
    return Factor("milestones", _clamp(raw, -200, 120), 120, {
        "on_time": f.milestones_on_time, "late": f.milestones_late, "overdue": f.milestones_overdue,
        "longest_overdue": max(overdue_days, default=0)})


def _spend_backed(f: FounderFacts) -> Factor:
    currencies = [c for c, amount in f.released.items() if amount > 0]
    if not currencies:
        return Factor("spend_backed", 40, 80, {})
    ratio = sum(min(1.0, f.released_backed.get(c, 0) / f.released[c]) for c in currencies) / len(currencies)
    return Factor("spend_backed", round(80 * ratio), 80, {"percent": round(100 * ratio)})


def _budget(f: FounderFacts) -> Factor:
    reported = f.budget_lines_over + f.budget_lines_under
    if not reported:
        return Factor("budget", 20, 40, {})
    return Factor("budget", round(40 * _share(f.budget_lines_under, reported)), 40,
                  {"over": f.budget_lines_over, "reported": reported})


CADENCE_STEPS = ((14, 100), (30, 75), (60, 40), (90, 20))  # median gap up to N days -> points
SILENCE_GRACE, SILENCE_MAX = 30, 60  # open silence: -1 point per day beyond 30, down to -60


def cadence_points(median_gap_days: float) -> int:
    """Points for the median days between updates during delivery."""
    for limit, points in CADENCE_STEPS:
        if median_gap_days <= limit:
            return points
    return 0


def silence_points(silence_days: float) -> int:
    """Points (negative) for the days since the last update while milestones are still open."""
    return -min(SILENCE_MAX, max(0, int(silence_days) - SILENCE_GRACE))


def _communication(f: FounderFacts) -> list[Factor]:
    silence = silence_points(f.silence_days)
    if f.update_gaps_days:
        gap = median(f.update_gaps_days)
        cadence = Factor("update_cadence", cadence_points(gap) + silence, 100,
                         {"median_days": round(gap), "silence_days": int(f.silence_days)})
    else:
        cadence = Factor("update_cadence", 50 + silence, 100, {"silence_days": int(f.silence_days)})
    if f.update_requests:
        answered = _clamp(f.update_requests_answered, 0, f.update_requests)
        requests = Factor("update_requests", round(50 * answered / f.update_requests), 50,
                          {"answered": answered, "requests": f.update_requests})
    else:
        requests = Factor("update_requests", 25, 50, {})
    return [cadence, requests]


def _rate_factor(code: str, count: int, collected: int, per_point: int) -> Factor:
    """100 points minus per_point for each percentage point of collected pledges, at least 0."""
    if not collected:
        return Factor(code, 50, 100, {})
    percent = 100 * count / collected
    return Factor(code, max(0, round(100 - per_point * percent)), 100, {"count": count, "collected": collected})


def _backers(f: FounderFacts) -> list[Factor]:
    marked = f.receipts_received + f.receipts_not_received
    if marked:
        receipts = Factor("receipts", round(100 * f.receipts_received / marked), 100, {
            "received": f.receipts_received, "not_received": f.receipts_not_received, "shipped": f.tiers_shipped})
    else:
        receipts = Factor("receipts", 50, 100, {})
    return [
        _rate_factor("refunds", f.refunds, f.pledges_collected, 5),
        _rate_factor("disputes", f.disputes, f.pledges_collected, 20),
        Factor("reports_upheld", max(-150, -50 * f.reports_upheld), 0, {"count": f.reports_upheld}),
        receipts,
    ]


def _verified(n: dict) -> str:
    return _("verified") if n.get("verified") else _("not verified")


def _business_text(n: dict) -> str:
    if n.get("checked"):
        return _("checked by a moderator")
    return _("declared, not checked yet") if n.get("declared") else _("not declared")


def _outcomes_text(n: dict) -> str:
    return _("%(funded)d funded, %(failed)d failed, %(cancelled)d cancelled, %(abandoned)d abandoned, "
             "%(suspended)d suspended", funded=n["funded"], failed=n["failed"], cancelled=n["cancelled"],
             abandoned=n["abandoned"], suspended=n["suspended"])


def _milestones_text(n: dict) -> str:
    if not n["on_time"] + n["late"] + n["overdue"]:
        return _("no milestone due yet (neutral)")
    if n.get("longest_overdue"):
        return _("%(on_time)d on time, %(late)d late, %(overdue)d overdue (the oldest %(days)s)",
                 on_time=n["on_time"], late=n["late"], overdue=n["overdue"],
                 days=ngettext("%(num)d day overdue", "%(num)d days overdue", n["longest_overdue"]))
    return _("%(on_time)d on time, %(late)d late, %(overdue)d overdue",
             on_time=n["on_time"], late=n["late"], overdue=n["overdue"])


def _cadence_text(n: dict) -> str:
    text = (ngettext("an update every %(num)d day (median)", "an update every %(num)d days (median)",
                     n["median_days"]) if "median_days" in n
            else _("not enough updates during delivery yet (neutral)"))
    if n.get("silence_days", 0) > SILENCE_GRACE:
        text += "; " + ngettext("no update for %(num)d day while milestones are open",
                                "no update for %(num)d days while milestones are open", n["silence_days"])
    return text


def _rate_text(n: dict) -> str:
    if not n:
        return _("no pledges collected yet (neutral)")
    return ngettext("%(count)d of %(num)d pledge (%(percent)s%%)", "%(count)d of %(num)d pledges (%(percent)s%%)",
                    n["collected"], count=n["count"], percent=f"{100 * n['count'] / n['collected']:.1f}")


def _receipts_text(n: dict) -> str:
    if not n:
        return _("no backer has said yet (neutral)")
    return _("%(received)d received, %(not_received)d not received (%(shipped)s)", received=n["received"],
             not_received=n["not_received"],
             shipped=ngettext("%(num)d tier shipped", "%(num)d tiers shipped", n["shipped"]))


VALUE_TEXTS = {
    "email_verified": _verified,
    "payout_verified": _verified,
    "account_age": lambda n: ngettext("%(num)d day", "%(num)d days", n["days"]),
    "business": _business_text,
    "outcomes": _outcomes_text,
    "milestones": _milestones_text,
    "spend_backed": lambda n: (_("%(percent)d%% of released money reported", percent=n["percent"]) if n
                               else _("no money released yet (neutral)")),
    "budget": lambda n: (_("%(over)d of %(reported)d reported lines over budget", **n) if n
                         else _("no spending reported yet (neutral)")),
    "update_cadence": _cadence_text,
    "update_requests": lambda n: (_("%(answered)d of %(requests)d answered within 14 days", **n) if n
                                  else _("no update requests (neutral)")),
    "refunds": _rate_text,
    "disputes": _rate_text,
    "reports_upheld": lambda n: _("%(count)d upheld", count=n.get("count", 0)),
    "receipts": _receipts_text,
}


def factor_value(code: str, numbers: dict) -> str:
    """A factor's numbers as shown to people, rendered now (in the current locale); "" when the code or
    numbers are unknown (a profile stored by another version)."""
    render = VALUE_TEXTS.get(code)
    try:
        return render(numbers or {}) if render else ""
    except (KeyError, TypeError, ValueError):
        return ""


def has_history(facts: FounderFacts) -> bool:
    """A campaign reached an outcome: funded, failed, cancelled, abandoned or suspended."""
    return bool(facts.campaigns_funded + facts.campaigns_failed + facts.campaigns_cancelled
                + facts.campaigns_abandoned + facts.campaigns_suspended)


def band_of(score: int | None) -> str:
    if score is None:
        return "new"
    for code, band in BANDS.items():
        if band.low is not None and band.low <= score <= band.high:
            return code
    raise ValueError(score)


def scorecard(facts: FounderFacts) -> Scorecard:
    """Every factor's points; the score is their sum clamped to 0..1000, or None before any outcome."""
    factors = [*_identity(facts), _outcomes(facts), _milestones(facts), _spend_backed(facts),
               _budget(facts), *_communication(facts), *_backers(facts)]
    score = _clamp(sum(x.points for x in factors), SCORE_MIN, SCORE_MAX) if has_history(facts) else None
    return Scorecard(score=score, band=band_of(score), factors=factors)
