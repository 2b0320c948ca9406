"""The money arithmetic of releases and pro-rata refunds: pure functions on integers (minor units).

The founder's share of a funded campaign is what the platform holds for it before any release:
collected − refunds − disputes − platform fees. An optional first tranche (FIRST_TRANCHE_BP of that
share) is released at success; the rest is split over the milestones by their release shares
(basis points summing to 10000). Amounts are cumulative floors, so the tranches of a schedule add up
to the share exactly, whatever the rounding."""
from dataclasses import dataclass

BP = 10_000


@dataclass(frozen=True)
class Tranche:
    milestone_id: int | None  # None: the first tranche
    cumulative_bp: int  # of the founder's share, in units of 1/10^8 (bp × bp)


def cumulative_shares(milestone_shares: list[tuple[int, int]], first_tranche_bp: int) -> list[Tranche]:
    """[(milestone_id, release_bp)] in milestone order → the cumulative share after each tranche,
    the first tranche (when first_tranche_bp > 0) coming first. Shares are in 1/10^8 of the whole."""
    if not 0 <= first_tranche_bp <= BP:
        raise ValueError("first_tranche_bp must be between 0 and 10000")
    if sum(share for _, share in milestone_shares) != BP:
        raise ValueError("milestone release shares must add up to 10000 basis points")
    tranches = []
    if first_tranche_bp:
        tranches.append(Tranche(None, first_tranche_bp * BP))
    running = 0
    for milestone_id, share in milestone_shares:
        running += share
        tranches.append(Tranche(milestone_id, first_tranche_bp * BP + (BP - first_tranche_bp) * running))
    return tranches


def amount_through(share_total: int, cumulative: int) -> int:
    """The founder's share released once every tranche up to this cumulative share is paid."""
    return share_total * cumulative // (BP * BP)


def tranche_amount(share_total: int, tranches: list[Tranche], milestone_id: int | None, released: int) -> int:
    """What releasing this tranche pays now: the schedule's amount through it, less what was already
    released (never negative; the last tranche takes the remainder of the share)."""
    for tranche in tranches:
        if tranche.milestone_id == milestone_id:
            return max(0, amount_through(share_total, tranche.cumulative_bp) - released)
    raise KeyError(milestone_id)


def pro_rata(total: int, weights: dict[int, int]) -> dict[int, int]:
    """Split `total` over keys in proportion to their weights (≥ 0), integer-exact: each key gets the
    floor of its share, and the units left over go one each to the keys with the largest remainders
    (ties: the smaller key first). The parts add up to `total`; no part exceeds its weight when
    total ≤ sum(weights)."""
    if total < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("amounts and weights must not be negative")
    whole = sum(weights.values())
    if total == 0 or whole == 0:
        if total and not whole:
            raise ValueError("cannot split a positive amount over nothing")
        return {key: 0 for key in weights}
    parts = {key: total * weight // whole for key, weight in weights.items()}
    left = total - sum(parts.values())
    order = sorted(weights, key=lambda key: (-(total * weights[key] % whole), key))
    for key in order[:left]:
        parts[key] += 1
    return parts
