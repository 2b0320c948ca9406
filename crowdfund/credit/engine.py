"""The founder scorecard, as pure functions of FounderFacts (no database, no Flask): the app
(crowdfund/credit/facts.py gathers the facts from the database) and the backtest (bench/risk.py,
which simulates them) run the same code. Every factor's points are documented in docs/credit.md.

CONTRACT (shared by crowdfund/credit, bench/risk.py and the templates):
- FounderFacts: every number a profile is built from (shown to backers as they are).
- scorecard(facts) -> Scorecard: score None ("no history yet") until the founder has a campaign
  with an outcome (funded, failed, cancelled, abandoned, suspended); otherwise the sum of the
  factors' points, clamped to 0..1000. Each Factor carries its code, points, max_points, and
  the value it was computed from; FACTORS[code] gives its label, explanation and "how to improve"
  (lazy translations, rendered by templates).
"""
from dataclasses import asdict, dataclass, field


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
    # money released to the founder, and how much of it spend reports account for (minor units, per currency)
    released: dict[str, int] = field(default_factory=dict)
    released_backed: dict[str, int] = field(default_factory=dict)
    budget_lines: int = 0  # budget lines of funded campaigns
    budget_lines_over: int = 0  # spend reported above the line's amount
    budget_lines_under: int = 0  # spend reported, at or below the line's amount
    # communication
    update_gaps_days: list[float] = field(default_factory=list)  # between updates during delivery
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
    value: str  # the number(s) it was computed from, as shown ("3 of 4 on time")


@dataclass
class Scorecard:
    score: int | None
    band: str  # "new", "weak", "fair", "good", "strong"
    factors: list[Factor]


def scorecard(facts: FounderFacts) -> Scorecard:
    raise NotImplementedError  # crowdfund/credit helper implements
