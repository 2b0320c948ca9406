"""Risk rules as pure functions of CampaignSignals (no database, no Flask): the app
(crowdfund/risk/signals.py gathers the signals from the database) and the backtest (bench/risk.py,
which simulates them) run the same code.

CONTRACT:
- evaluate(signals, settings) -> list[Flag]; every flag has a reason code (CODES), points, a
  phase ("review", "funding", "delivery") and a detail dict of the numbers that made it fire.
  The campaign's risk score is the sum of its flags' points.
- RiskSettings carries every threshold (defaults here; the app reads RISK_* config).
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
    same_source_pledges: int = 5  # pledges from one IP hash / one card fingerprint
    failed_setups_from_one_ip: int = 5
    burst_ratio: float = 10.0  # pledges in the last 24 h over the campaign's own daily rate
    burst_minimum: int = 20
    silence_days: int = 45
    spike_7d: int = 5  # update requests / reports / refund requests within 7 days


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
    # funding
    max_pledges_one_ip: int = 0
    max_failed_setups_one_ip: int = 0
    max_backers_one_card: int = 0
    founder_pledged: bool = False
    pledges_last_24h: int = 0
    daily_pledge_rate: float = 0.0  # before the last 24 h, since launch
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


def evaluate(signals: CampaignSignals, settings: RiskSettings | None = None) -> list[Flag]:
    raise NotImplementedError  # crowdfund/risk helper implements
