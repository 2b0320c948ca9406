"""The scorecard's rules that are not a fixed number of points: no history yet, clamping, bands,
neutral factors saying so."""
from crowdfund.credit.engine import FACTORS, FounderFacts, band_of, factor_value, scorecard


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


# The demo's struggling founder (crowdfund/demo.py, Dan): funded 140 days ago, the first milestone
# 26 days late, two overdue (50 and 15 days), 84 days silent, released money without a spend report,
# 9 update requests this week.
STRUGGLING = FounderFacts(
    account_age_days=700, email_verified=True, payout_verified=True, campaigns_launched=1, campaigns_funded=1,
    milestones_late=1, late_days=[26], milestones_overdue=2, overdue_days=[50, 15], released={"GBP": 500_000},
    budget_lines=3, update_gaps_days=[10, 46, 84], silence_days=84, update_requests=9, pledges_collected=18)


def test_current_trouble_lands_a_founder_in_weak_below_founders_whose_campaign_failed():
    failed = scorecard(FounderFacts(email_verified=True, payout_verified=True, account_age_days=700,
                                    campaigns_launched=1, campaigns_failed=1))
    card = scorecard(STRUGGLING)
    assert card.band == "weak"
    assert card.score < failed.score
    points = {f.code: f.points for f in card.factors}
    assert points["milestones"] < 0 and points["update_cadence"] < 0


def test_overdue_milestones_weigh_more_the_longer_they_are_overdue():
    scores = [scorecard(FounderFacts(campaigns_funded=1, milestones_on_time=3, milestones_overdue=1,
                                     overdue_days=[days])).score for days in (1, 30, 60, 365)]
    assert scores[0] > scores[1] > scores[2] == scores[3]  # capped at 90 points a milestone
    on_time = scorecard(FounderFacts(campaigns_funded=1, milestones_on_time=4)).score
    assert on_time - scores[0] > 15  # an overdue milestone costs more than an on-time one earns


def test_silence_counts_only_beyond_a_month_while_milestones_are_open():
    def cadence(silence):
        card = scorecard(FounderFacts(campaigns_funded=1, update_gaps_days=[14], silence_days=silence))
        return next(f.points for f in card.factors if f.code == "update_cadence")
    assert cadence(0) == cadence(30) == 100
    assert cadence(45) == 85 and cadence(400) == 40


def test_an_honest_founder_late_but_communicating_stays_fair_or_good():
    late = scorecard(FounderFacts(
        account_age_days=300, email_verified=True, payout_verified=True, campaigns_launched=1, campaigns_funded=1,
        milestones_on_time=1, milestones_late=2, late_days=[12, 25], milestones_overdue=1, overdue_days=[10],
        released={"USD": 100_000}, released_backed={"USD": 80_000}, budget_lines=3, budget_lines_under=2,
        budget_lines_over=1, update_gaps_days=[12, 14, 16, 10], silence_days=10, update_requests=3,
        update_requests_answered=3, pledges_collected=120, refunds=2, receipts_received=5))
    assert late.band in ("fair", "good"), late.score


def test_factors_keep_numbers_only_and_render_their_text_when_asked():
    card = scorecard(STRUGGLING)
    for factor in card.factors:
        assert all(isinstance(v, (int, float, bool)) for v in factor.numbers.values()), factor
        assert factor.value  # every factor says what it was built from
    milestones = next(f for f in card.factors if f.code == "milestones")
    assert milestones.numbers == {"on_time": 0, "late": 1, "overdue": 2, "longest_overdue": 50}
    assert milestones.value == "0 on time, 1 late, 2 overdue (the oldest 50 days overdue)"
    assert factor_value("account_age", {"days": 1}) == "1 day"
    assert factor_value("refunds", {"count": 1, "collected": 1}) == "1 of 1 pledge (100.0%)"
    assert factor_value("milestones", {"on_time": 1}) == ""  # an odd stored shape shows no text, never fails
