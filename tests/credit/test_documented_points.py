"""docs/credit.md documents every factor's points; these tests hold the engine to it: from the
documented reference founder, each documented change moves that factor — and the score — by exactly
the documented points."""
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from crowdfund.credit.engine import BANDS, FACTORS, FounderFacts, scorecard

DOC = (Path(__file__).parents[2] / "docs" / "credit.md").read_text()


def _reference() -> FounderFacts:
    block = re.search(r"```json reference-founder\n(.*?)```", DOC, re.S).group(1)
    return FounderFacts.from_dict(json.loads(block))


def _rows() -> list[tuple[str, dict, int]]:
    table = DOC.split("<!-- documented-points:start -->")[1].split("<!-- documented-points:end -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        code, change, points = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rows.append((code, json.loads(change), int(points)))
    return rows


ROWS = _rows()


def _points(card, code: str) -> int:
    return next(f.points for f in card.factors if f.code == code)


def test_the_table_covers_every_factor_and_names_only_real_facts():
    assert {code for code, _change, _points in ROWS} == set(FACTORS)
    fields = set(FounderFacts.__dataclass_fields__)
    for _code, change, _points in ROWS:
        assert set(change) <= fields, change


@pytest.mark.parametrize(("code", "change", "points"), ROWS, ids=[f"{r[0]}:{json.dumps(r[1])}" for r in ROWS])
def test_each_documented_change_moves_the_score_by_the_documented_points(code, change, points):
    reference = _reference()
    before = scorecard(reference)
    after = scorecard(replace(reference, **change))
    assert 0 < before.score < 1000  # the reference founder is clamped nowhere
    assert _points(after, code) - _points(before, code) == points
    assert after.score - before.score == points
    for other in FACTORS:  # only the factor the row is about moves
        if other != code:
            assert _points(after, other) == _points(before, other), other


def test_every_factor_of_the_table_in_the_doc_is_described():
    for code in FACTORS:
        assert f"| `{code}` |" in DOC


def test_documented_bands_match_the_engine():
    for code, band in BANDS.items():
        if band.low is None:
            assert f"(`{code}`) | none |" in DOC
        else:
            assert f"(`{code}`) | {band.low}–{band.high} |" in DOC


def test_the_maximum_is_1000_and_a_perfect_founder_reaches_it():
    assert sum(f.max_points for f in scorecard(FounderFacts()).factors) == 1000
    perfect = FounderFacts(
        account_age_days=400, email_verified=True, payout_verified=True, business_declared=True,
        business_checked=True, campaigns_launched=5, campaigns_funded=5, milestones_on_time=10,
        released={"USD": 1000}, released_backed={"USD": 1000}, budget_lines=2, budget_lines_under=2,
        update_gaps_days=[7, 7], update_requests=1, update_requests_answered=1, pledges_collected=10,
        receipts_received=3)
    card = scorecard(perfect)
    assert (card.score, card.band) == (1000, "strong")
