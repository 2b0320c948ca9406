"""Every risk rule fires on its scenario and not on an honest control (pure: no app, no database);
the points add up so that one serious delivery signal or two review signals reach the hold
threshold, a long silence or a release without a spend report holds only with a second signal, and
a lone weak signal does not."""
import pytest

from crowdfund.risk.rules import CODES, CampaignSignals, RiskSettings, evaluate, score

SETTINGS = RiskSettings()


def honest(phase="delivery", **changes) -> CampaignSignals:
    """A campaign nothing is wrong with: old account, ordinary goal, verified payout, fitting budget,
    spread-out pledges, recent updates, milestones on schedule."""
    values = dict(phase=phase, account_age_days=400, goal=100_000, category_median_goal=80_000,
                  payout_verified=True, budget_total=100_000, budget_max_line=60_000,
                  max_pledges_one_ip=2, max_failed_setups_one_ip=1, max_backers_one_card=1,
                  pledges_last_24h=8, daily_pledge_rate=5.0, funding_days=12.0,
                  days_since_update=10.0, open_milestones=2, overdue_days=[],
                  duplicate_stories=[("other", 0.35)], matching_images=[("other", 30)],
                  category_line_shares=[0.4, 0.5, 0.55, 0.6, 0.65, 0.7])
    values.update(changes)
    return CampaignSignals(**values)


SCENARIOS = {
    "new_account_large_goal": dict(account_age_days=5, goal=400_000, budget_total=400_000, budget_max_line=200_000),
    "no_verified_payout": dict(payout_verified=False),
    "duplicate_story": dict(duplicate_stories=[("copied-bakery", 0.93)]),
    "matching_images": dict(matching_images=[("copied-bakery", 2)]),
    "budget_mismatch": dict(budget_total=40_000, budget_max_line=20_000),
    # in a category where one line usually is the budget (so not unusual for the category)
    "budget_dominant_line": dict(budget_max_line=95_000, category_line_shares=[0.9, 0.95, 0.97, 0.98, 0.99]),
    "budget_unusual_for_category": dict(budget_max_line=75_000),  # 75 % of the budget; category p90 67.5 %
    "pledges_one_ip": dict(max_pledges_one_ip=6),
    "failed_setups_one_ip": dict(max_failed_setups_one_ip=9),
    "card_shared": dict(max_backers_one_card=4),
    "founder_self_backing": dict(founder_pledged=True),
    "pledge_burst": dict(pledges_last_24h=80, daily_pledge_rate=3.0),
    "silence": dict(days_since_update=60.0),
    "milestones_overdue": dict(overdue_days=[12]),
    "over_budget": dict(over_budget_lines=[("Oven", 15_000)]),
    "release_without_spend_report": dict(release_without_spend_report=True),
    "update_request_spike": dict(update_requests_7d=7),
    "report_spike": dict(reports_7d=6),
    "refund_spike": dict(refund_requests_7d=8),
}


def codes(signals, settings=SETTINGS):
    return [flag.code for flag in evaluate(signals, settings)]


def test_every_code_has_a_scenario():
    assert set(SCENARIOS) == set(CODES)


def test_the_honest_control_raises_nothing():
    assert evaluate(honest()) == []


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_each_rule_fires_on_its_scenario_and_alone(code):
    flags = evaluate(honest(**SCENARIOS[code]))
    assert [flag.code for flag in flags] == [code]
    flag = flags[0]
    assert flag.points > 0 and flag.phase in ("review", "funding", "delivery")
    assert flag.detail  # the numbers that made it fire


@pytest.mark.parametrize("code, near_miss", [
    ("new_account_large_goal", dict(account_age_days=31, goal=400_000, budget_total=400_000, budget_max_line=200_000)),
    ("new_account_large_goal", dict(account_age_days=5, goal=230_000, budget_total=230_000, budget_max_line=100_000)),
    ("new_account_large_goal", dict(account_age_days=5, goal=400_000, category_median_goal=None,
                                    budget_total=400_000, budget_max_line=200_000)),
    ("duplicate_story", dict(duplicate_stories=[("similar-topic", 0.6)])),
    ("matching_images", dict(matching_images=[("other", 7)])),
    ("budget_mismatch", dict(budget_total=80_000)),
    ("budget_mismatch", dict(budget_total=0, budget_max_line=0)),  # no budget lines: nothing to compare
    ("budget_dominant_line", dict(budget_max_line=80_000)),
    ("budget_unusual_for_category", dict(budget_max_line=65_000)),  # under the category's 90th percentile
    ("budget_unusual_for_category", dict(budget_max_line=75_000,  # too few campaigns to compare with
                                         category_line_shares=[0.4, 0.5, 0.55, 0.6])),
    ("budget_unusual_for_category", dict(budget_max_line=50_000,  # above the category, but only half
                                         category_line_shares=[0.2, 0.25, 0.3, 0.3, 0.35])),
    ("budget_unusual_for_category", dict(budget_total=0, budget_max_line=0)),
    ("pledges_one_ip", dict(max_pledges_one_ip=4)),
    ("failed_setups_one_ip", dict(max_failed_setups_one_ip=4)),
    ("card_shared", dict(max_backers_one_card=2)),
    ("pledge_burst", dict(pledges_last_24h=19, daily_pledge_rate=0.5)),  # under the minimum count
    ("pledge_burst", dict(pledges_last_24h=40, daily_pledge_rate=6.0)),  # within the campaign's own rate
    ("pledge_burst", dict(pledges_last_24h=80, daily_pledge_rate=0.0, funding_days=1.0)),  # launch day
    ("silence", dict(days_since_update=44.0)),
    ("silence", dict(days_since_update=90.0, open_milestones=0)),  # everything delivered
    ("milestones_overdue", dict(overdue_days=[0])),
    ("update_request_spike", dict(update_requests_7d=4)),
    ("report_spike", dict(reports_7d=4)),
    ("refund_spike", dict(refund_requests_7d=4)),
])
def test_near_misses_do_not_fire(code, near_miss):
    assert code not in codes(honest(**near_miss))


def test_later_phase_rules_do_not_apply_before_their_phase():
    signals = honest(phase="review", founder_pledged=True, days_since_update=99.0, overdue_days=[40],
                     release_without_spend_report=True)
    assert codes(signals) == []
    assert codes(honest(phase="funding", founder_pledged=True, days_since_update=99.0)) == ["founder_self_backing"]
    # review facts still count later
    assert codes(honest(phase="delivery", payout_verified=False)) == ["no_verified_payout"]


def test_overdue_points_grow_with_days_and_are_capped():
    points = [evaluate(honest(overdue_days=[days]))[0].points for days in (1, 10, 30, 90, 400)]
    assert points == [21, 30, 50, 60, 60]
    flag = evaluate(honest(overdue_days=[3, 17]))[0]
    assert flag.detail == {"overdue_milestones": 2, "worst_days": 17}


def test_one_serious_delivery_signal_reaches_the_hold_threshold():
    assert score(evaluate(honest(**SCENARIOS["refund_spike"]))) >= SETTINGS.hold_threshold
    assert score(evaluate(honest(overdue_days=[30]))) >= SETTINGS.hold_threshold


@pytest.mark.parametrize("code", ["silence", "release_without_spend_report"])
def test_silence_or_a_release_without_spend_report_is_flagged_not_held_alone(code):
    flags = evaluate(honest(**SCENARIOS[code]))
    assert [flag.code for flag in flags] == [code]
    assert 0 < score(flags) < SETTINGS.hold_threshold


@pytest.mark.parametrize("code", ["silence", "release_without_spend_report"])
@pytest.mark.parametrize("second", ["no_verified_payout", "budget_unusual_for_category", "milestones_overdue",
                                    "update_request_spike", "silence", "release_without_spend_report"])
def test_silence_or_a_release_without_spend_report_holds_with_any_second_signal(code, second):
    if second == code:
        return
    signals = honest(**{**SCENARIOS[code], **SCENARIOS[second]})
    assert set(codes(signals)) == {code, second}
    assert score(evaluate(signals)) >= SETTINGS.hold_threshold


@pytest.mark.parametrize("first, second", [
    ("new_account_large_goal", "matching_images"), ("duplicate_story", "budget_mismatch"),
    ("new_account_large_goal", "budget_mismatch"), ("pledges_one_ip", "founder_self_backing"),
])
def test_two_review_or_funding_signals_reach_the_hold_threshold(first, second):
    signals = honest(**{**SCENARIOS[first], **SCENARIOS[second]})
    assert set(codes(signals)) == {first, second}
    assert score(evaluate(signals)) >= SETTINGS.hold_threshold


@pytest.mark.parametrize("code", sorted(set(SCENARIOS) - {"refund_spike"}))
def test_a_lone_weak_or_medium_signal_stays_below_the_threshold(code):
    signals = honest(**SCENARIOS[code])
    if code == "milestones_overdue":
        signals = honest(overdue_days=[12])
    assert score(evaluate(signals)) < SETTINGS.hold_threshold


def test_weak_review_signals_together_stay_below_the_threshold():
    signals = honest(payout_verified=False, budget_max_line=95_000)
    assert score(evaluate(signals)) < SETTINGS.hold_threshold
    signals = honest(payout_verified=False, budget_max_line=75_000)
    assert codes(signals) == ["no_verified_payout", "budget_unusual_for_category"]
    assert score(evaluate(signals)) < SETTINGS.hold_threshold


def test_budget_unusual_for_category_reports_its_numbers_and_follows_the_settings():
    flag = evaluate(honest(**SCENARIOS["budget_unusual_for_category"]))[0]
    assert flag.points == 15 and flag.phase == "review"
    assert flag.detail == {"share": 0.75, "category_p90": 0.68, "category_campaigns": 6, "threshold": 0.5}
    assert "budget_unusual_for_category" not in codes(
        honest(budget_max_line=75_000), RiskSettings(budget_category_min=7))
    assert "budget_unusual_for_category" not in codes(
        honest(budget_max_line=75_000), RiskSettings(budget_category_share=0.8))


def test_settings_move_the_thresholds():
    strict = RiskSettings(silence_days=20, same_source_pledges=3, spike_7d=2)
    signals = honest(days_since_update=25.0, max_pledges_one_ip=3, reports_7d=2)
    assert codes(signals) == []
    assert codes(signals, strict) == ["pledges_one_ip", "silence", "report_spike"]


def test_detail_holds_the_numbers():
    flag = evaluate(honest(**SCENARIOS["pledge_burst"]))[0]
    assert flag.detail["pledges_last_24h"] == 80 and flag.detail["daily_pledge_rate"] == 3.0
    flag = evaluate(honest(**SCENARIOS["duplicate_story"]))[0]
    assert flag.detail["matches"] == [["copied-bakery", 0.93]]
