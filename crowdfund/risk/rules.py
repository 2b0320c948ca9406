"""Risk rules as pure functions of CampaignSignals (no database, no Flask): the app
(crowdfund/risk/signals.py gathers the signals from the database) and the backtest (bench/risk.py,
which simulates them) run the same code.

CONTRACT:
- evaluate(signals, settings) -> list[Flag]; every flag has a reason code (CODES), points, a
  phase ("review", "funding", "delivery") and a detail dict of the numbers that made it fire.
  The campaign's risk score is the sum of its flags' points.
- RiskSettings carries every threshold (defaults here; the app reads RISK_* config).

POINTS (hold_threshold is 50): a refund spike or a milestone 30+ days overdue reaches it alone,
two review or funding signals together reach it, and a lone weak or medium signal never does.
  review   new_account_large_goal 25, duplicate_story 30, matching_images 25, budget_mismatch 25;
           weak: no_verified_payout 10, budget_dominant_line 15, budget_unusual_for_category 15.
  funding  pledges_one_ip 25, failed_setups_one_ip 30, card_shared 30, founder_self_backing 25,
           pledge_burst 25.
  delivery serious: refund_spike 50, milestones_overdue 20 + the worst milestone's days overdue
           (capped at 60; 50 at 30 days); strong but not alone: silence 40,
           release_without_spend_report 40 (the backtest held half the honest founders when each
           held alone; with any second signal they hold); medium: over_budget 30, report_spike 30;
           weak: update_request_spike 20.
Review rules apply in every phase (the facts stay true), funding rules from "funding" on,
delivery rules in "delivery" and "closed".
"""
from dataclasses import dataclass, field


@dataclass
class RiskSettings:
    hold_threshold: int = 50  # releases are held at or above this score until cleared
    new_account_days: int = 30
    large_goal_ratio: float = 3.0  # goal over the category's median goal
    duplicate_similarity: float = 0.8  # estimated Jaccard of story shingles
    image_distance: int = 6  # perceptual-hash Hamming distance counted as "the same image"
    budget_mismatch_ratio: float = 0.25  # budget total vs goal
    budget_dominant_share: float = 0.8  # one line of the whole goal
    budget_category_min: int = 5  # other public campaigns in the category needed to compare budgets
    budget_category_share: float = 0.5  # the largest line's share of the budget must exceed this too
    same_source_pledges: int = 5  # pledges from one IP hash
    failed_setups_from_one_ip: int = 5
    burst_ratio: float = 10.0  # pledges in the last 24 h over the campaign's own daily rate
    burst_minimum: int = 20
    silence_days: int = 45
    spike_7d: int = 5  # update requests / reports / refund requests within 7 days
    shared_card_backers: int = 3  # distinct backers pledging with one card fingerprint
    burst_min_days: float = 2.0  # days live before the last 24 h can be compared with a rate


@dataclass
class CampaignSignals:
    phase: str  # "review" (draft..approved), "funding" (live), "delivery" (successful), "closed"
    # review
    account_age_days: int = 0
    goal: int = 0
    category_median_goal: int | None = None  # None: too few campaigns in the category to compare
    payout_verified: bool = False
    duplicate_stories: list[tuple[str, float]] = field(default_factory=list)  # (other slug, similarity)
    matching_images: list[tuple[str, int]] = field(default_factory=list)  # (other slug, hash distance)
    budget_total: int = 0
    budget_max_line: int = 0
    # the largest line's share of the budget of each other public campaign in the category (same currency)
    category_line_shares: list[float] = field(default_factory=list)
    # funding
    max_pledges_one_ip: int = 0
    max_failed_setups_one_ip: int = 0
    max_backers_one_card: int = 0
    founder_pledged: bool = False
    pledges_last_24h: int = 0
    daily_pledge_rate: float = 0.0  # before the last 24 h, since launch
    funding_days: float | None = None  # days since launch; None: unknown (no minimum applied)
    # delivery
    days_since_update: float | None = None
    open_milestones: int = 0
    overdue_days: list[int] = field(default_factory=list)  # one per overdue milestone
    over_budget_lines: list[tuple[str, int]] = field(default_factory=list)  # (purpose, amount over)
    release_without_spend_report: bool = False
    update_requests_7d: int = 0
    reports_7d: int = 0
    refund_requests_7d: int = 0  # refunds, disputes and "not received" marks


@dataclass
class Flag:
    code: str
    points: int
    phase: str
    detail: dict


REVIEW, FUNDING, DELIVERY = "review", "funding", "delivery"
_PHASE_ORDER = {"review": 0, "funding": 1, "delivery": 2, "closed": 2}

POINTS = {
    "new_account_large_goal": 25,
    "no_verified_payout": 10,
    "duplicate_story": 30,
    "matching_images": 25,
    "budget_mismatch": 25,
    "budget_dominant_line": 15,
    "budget_unusual_for_category": 15,
    "pledges_one_ip": 25,
    "failed_setups_one_ip": 30,
    "card_shared": 30,
    "founder_self_backing": 25,
    "pledge_burst": 25,
    "silence": 40,
    "milestones_overdue": 20,  # base; plus the worst days overdue, see OVERDUE_CAP
    "over_budget": 30,
    "release_without_spend_report": 40,
    "update_request_spike": 20,
    "report_spike": 30,
    "refund_spike": 50,
}
OVERDUE_CAP = 60


def _flag(code: str, phase: str, points: int | None = None, **detail) -> Flag:
    return Flag(code=code, points=POINTS[code] if points is None else points, phase=phase, detail=detail)


# review ------------------------------------------------------------------------------------------

def new_account_large_goal(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """An account younger than new_account_days asking more than large_goal_ratio × the category median."""
    if s.category_median_goal is None or s.category_median_goal <= 0:
        return None
    if s.account_age_days >= c.new_account_days or s.goal <= c.large_goal_ratio * s.category_median_goal:
        return None
    return _flag("new_account_large_goal", REVIEW, account_age_days=s.account_age_days, goal=s.goal,
                 category_median_goal=s.category_median_goal,
                 ratio=round(s.goal / s.category_median_goal, 2))


def no_verified_payout(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """No payout account that can receive transfers (weak alone)."""
    return None if s.payout_verified else _flag("no_verified_payout", REVIEW, payout_verified=False)


def duplicate_story(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """The story near-duplicates another campaign's (estimated Jaccard ≥ duplicate_similarity)."""
    matches = [(slug, round(sim, 3)) for slug, sim in s.duplicate_stories if sim >= c.duplicate_similarity]
    if not matches:
        return None
    matches.sort(key=lambda m: -m[1])
    return _flag("duplicate_story", REVIEW, matches=[list(m) for m in matches],
                 similarity=matches[0][1], threshold=c.duplicate_similarity)


def matching_images(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """An image within image_distance (perceptual-hash Hamming distance) of another campaign's."""
    matches = [(slug, d) for slug, d in s.matching_images if d <= c.image_distance]
    if not matches:
        return None
    matches.sort(key=lambda m: m[1])
    return _flag("matching_images", REVIEW, matches=[list(m) for m in matches],
                 distance=matches[0][1], threshold=c.image_distance)


def budget_mismatch(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """Budget lines that add up to more or less than the goal by over budget_mismatch_ratio of it."""
    if s.goal <= 0 or s.budget_total <= 0:
        return None
    gap = abs(s.budget_total - s.goal)
    if gap <= c.budget_mismatch_ratio * s.goal:
        return None
    return _flag("budget_mismatch", REVIEW, budget_total=s.budget_total, goal=s.goal,
                 gap_share=round(gap / s.goal, 2), threshold=c.budget_mismatch_ratio)


def budget_dominant_line(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """One budget line takes more than budget_dominant_share of the goal (weak alone)."""
    if s.goal <= 0 or s.budget_max_line <= c.budget_dominant_share * s.goal:
        return None
    return _flag("budget_dominant_line", REVIEW, budget_max_line=s.budget_max_line, goal=s.goal,
                 share=round(s.budget_max_line / s.goal, 2), threshold=c.budget_dominant_share)


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of the sorted values, linearly interpolated."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def budget_unusual_for_category(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """The largest budget line's share of the budget is above budget_category_share and above the
    90th percentile of that share among at least budget_category_min other public campaigns of the
    category (weak alone)."""
    if s.budget_total <= 0 or len(s.category_line_shares) < c.budget_category_min:
        return None
    share = s.budget_max_line / s.budget_total
    p90 = percentile(s.category_line_shares, 0.9)
    if share <= c.budget_category_share or share <= p90:
        return None
    return _flag("budget_unusual_for_category", REVIEW, share=round(share, 2), category_p90=round(p90, 2),
                 category_campaigns=len(s.category_line_shares), threshold=c.budget_category_share)


# funding -----------------------------------------------------------------------------------------

def pledges_one_ip(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """same_source_pledges or more pledges from one client IP (hashed)."""
    if s.max_pledges_one_ip < c.same_source_pledges:
        return None
    return _flag("pledges_one_ip", FUNDING, pledges=s.max_pledges_one_ip, threshold=c.same_source_pledges)


def failed_setups_one_ip(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """failed_setups_from_one_ip or more card setups never completed from one client IP (card testing)."""
    if s.max_failed_setups_one_ip < c.failed_setups_from_one_ip:
        return None
    return _flag("failed_setups_one_ip", FUNDING, failed_setups=s.max_failed_setups_one_ip,
                 threshold=c.failed_setups_from_one_ip)


def card_shared(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """One card fingerprint behind shared_card_backers or more different backers."""
    if s.max_backers_one_card < c.shared_card_backers:
        return None
    return _flag("card_shared", FUNDING, backers=s.max_backers_one_card, threshold=c.shared_card_backers)


def founder_self_backing(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """The founder pledged to their own campaign."""
    return _flag("founder_self_backing", FUNDING, founder_pledged=True) if s.founder_pledged else None


def pledge_burst(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """At least burst_minimum pledges in the last 24 h, over burst_ratio × the campaign's own daily
    rate before them (at least 1 a day); not before burst_min_days live (launch days are busy)."""
    if s.pledges_last_24h < c.burst_minimum:
        return None
    if s.funding_days is not None and s.funding_days < c.burst_min_days:
        return None
    baseline = max(s.daily_pledge_rate, 1.0)
    if s.pledges_last_24h <= c.burst_ratio * baseline:
        return None
    return _flag("pledge_burst", FUNDING, pledges_last_24h=s.pledges_last_24h,
                 daily_pledge_rate=round(s.daily_pledge_rate, 2), ratio=round(s.pledges_last_24h / baseline, 1),
                 threshold=c.burst_ratio)


# delivery ----------------------------------------------------------------------------------------

def silence(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """No update for silence_days or more while milestones are open (strong; holds with a second signal)."""
    if s.open_milestones <= 0 or s.days_since_update is None or s.days_since_update < c.silence_days:
        return None
    return _flag("silence", DELIVERY, days_since_update=int(s.days_since_update),
                 open_milestones=s.open_milestones, threshold=c.silence_days)


def milestones_overdue(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """Milestones past their date and not completed: 20 points plus the worst one's days overdue,
    capped at 60 (serious from 30 days)."""
    overdue = [d for d in s.overdue_days if d > 0]
    if not overdue:
        return None
    worst = max(overdue)
    points = min(OVERDUE_CAP, POINTS["milestones_overdue"] + worst)
    return _flag("milestones_overdue", DELIVERY, points, overdue_milestones=len(overdue), worst_days=worst)


def over_budget(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """Reported spend above a budget line's amount."""
    if not s.over_budget_lines:
        return None
    return _flag("over_budget", DELIVERY, lines=[[p, amount] for p, amount in s.over_budget_lines],
                 total_over=sum(amount for _, amount in s.over_budget_lines))


def release_without_spend_report(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """A release requested with no spend report since the previous release (strong; holds with a second signal)."""
    if not s.release_without_spend_report:
        return None
    return _flag("release_without_spend_report", DELIVERY, release_without_spend_report=True)


def update_request_spike(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """spike_7d or more backers asking for an update within 7 days (weak alone)."""
    if s.update_requests_7d < c.spike_7d:
        return None
    return _flag("update_request_spike", DELIVERY, update_requests_7d=s.update_requests_7d, threshold=c.spike_7d)


def report_spike(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """spike_7d or more reports about the campaign within 7 days."""
    if s.reports_7d < c.spike_7d:
        return None
    return _flag("report_spike", DELIVERY, reports_7d=s.reports_7d, threshold=c.spike_7d)


def refund_spike(s: CampaignSignals, c: RiskSettings) -> Flag | None:
    """spike_7d or more refunds, disputes or "reward not received" marks within 7 days (serious)."""
    if s.refund_requests_7d < c.spike_7d:
        return None
    return _flag("refund_spike", DELIVERY, refund_requests_7d=s.refund_requests_7d, threshold=c.spike_7d)


RULES = {
    REVIEW: (new_account_large_goal, no_verified_payout, duplicate_story, matching_images,
             budget_mismatch, budget_dominant_line, budget_unusual_for_category),
    FUNDING: (pledges_one_ip, failed_setups_one_ip, card_shared, founder_self_backing, pledge_burst),
    DELIVERY: (silence, milestones_overdue, over_budget, release_without_spend_report,
               update_request_spike, report_spike, refund_spike),
}
CODES = tuple(rule.__name__ for rules in RULES.values() for rule in rules)


def evaluate(signals: CampaignSignals, settings: RiskSettings | None = None) -> list[Flag]:
    """Every rule of the campaign's phase and the phases before it; the flags that fire, in rule order."""
    settings = settings or RiskSettings()
    reached = _PHASE_ORDER.get(signals.phase, 0)
    flags = []
    for phase, rules in RULES.items():
        if _PHASE_ORDER[phase] > reached:
            continue
        for rule in rules:
            flag = rule(signals, settings)
            if flag is not None:
                flags.append(flag)
    return flags


def score(flags: list[Flag]) -> int:
    """The risk score: the sum of the flags' points."""
    return sum(flag.points for flag in flags)
