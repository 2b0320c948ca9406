"""The scorecard's rules that are not a fixed number of points: no history yet, clamping, bands,
neutral factors saying so."""
from crowdfund.credit.engine import FACTORS, FounderFacts, band_of, scorecard


def test_a_founder_without_an_outcome_has_no_score_not_zero():
    card = scorecard(FounderFacts(email_verified=True, campaigns_launched=1, milestones_overdue=9,
                                  reports_upheld=3, disputes=50, pledges_collected=50))
    assert card.score is None
    assert card.band == "new"
    assert [f.code for f in card.factors] == list(FACTORS)  # the factors are still shown


def test_any_outcome_gives_a_score():
    for outcome in ("campaigns_funded", "campaigns_failed", "campaigns_cancelled", "campaigns_abandoned",
                    "campaigns_suspended"):
        assert scorecard(FounderFacts(**{outcome: 1})).score is not None, outcome


def test_the_score_is_clamped_to_zero():
    awful = FounderFacts(campaigns_suspended=3, campaigns_abandoned=2, milestones_overdue=10, reports_upheld=5,
                         pledges_collected=10, refunds=10, disputes=10, receipts_not_received=10,
                         update_gaps_days=[200], update_requests=4, released={"EUR": 500},
                         budget_lines_over=3)
    card = scorecard(awful)
    assert sum(f.points for f in card.factors) < 0
    assert (card.score, card.band) == (0, "weak")


def test_factors_without_data_are_neutral_and_say_so():
    card = scorecard(FounderFacts(campaigns_failed=1))
    neutral = {f.code: f for f in card.factors if "neutral" in f.value}
    assert set(neutral) == {"milestones", "spend_backed", "budget", "update_cadence", "update_requests",
                            "refunds", "disputes", "receipts"}
    for factor in neutral.values():
        assert 0 < factor.points < factor.max_points


def test_a_first_failed_campaign_lands_mid_range_and_a_steady_founder_higher():
    first = scorecard(FounderFacts(email_verified=True, payout_verified=True, campaigns_failed=1)).score
    steady = scorecard(FounderFacts(
        email_verified=True, payout_verified=True, account_age_days=200, campaigns_funded=1, milestones_on_time=2,
        milestones_late=1, late_days=[5], released={"USD": 100}, released_backed={"USD": 60},
        budget_lines_under=2, update_gaps_days=[18, 25], pledges_collected=200, refunds=3, disputes=1,
        receipts_received=40, receipts_not_received=2)).score
    assert 400 <= first < 600
    assert 600 <= steady < 800


def test_released_money_is_judged_per_currency():
    facts = FounderFacts(campaigns_funded=2, released={"USD": 100, "JPY": 10_000},
                         released_backed={"USD": 100, "JPY": 0})
    factor = next(f for f in scorecard(facts).factors if f.code == "spend_backed")
    assert factor.points == 40  # 100 % and 0 %: half, however many yen a dollar is


def test_bands():
    assert [band_of(s) for s in (None, 0, 399, 400, 599, 600, 799, 800, 1000)] == [
        "new", "weak", "weak", "fair", "fair", "good", "good", "strong", "strong"]


def test_every_factor_explains_itself_and_how_to_improve():
    for code, text in FACTORS.items():
        assert str(text.label) and str(text.explanation) and str(text.improve), code
