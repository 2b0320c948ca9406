"""The funding chart's geometry: round axis steps and integer scaling of amounts to pixels."""
from datetime import date, timedelta

from crowdfund.dashboard import chart
from crowdfund.dashboard.services import Day, _shares


def days_from(start, amounts):
    out, total = [], 0
    for n, amount in enumerate(amounts):
        total += amount
        out.append(Day(start + timedelta(days=n), 1 if amount else 0, amount, total))
    return out


def test_axis_steps_are_round_amounts_in_whole_units():
    assert chart.nice_step(1, "USD") == 100           # $1
    assert chart.nice_step(101, "USD") == 200         # $2
    assert chart.nice_step(201, "USD") == 250         # $2.50
    assert chart.nice_step(25_001, "USD") == 50_000   # $500
    assert chart.nice_step(50_001, "USD") == 100_000  # $1,000
    assert chart.nice_step(3, "JPY") == 5             # ¥5: yen have no minor unit …
    assert chart.nice_step(21, "JPY") == 25           # … so ¥25 but never ¥2.5


def test_points_are_scaled_with_integers_and_the_goal_is_on_the_axis():
    start = date(2025, 3, 1)
    days = days_from(start, [25_000, 0, 25_000, 50_000])
    drawn = chart.build_chart(days, start, start + timedelta(days=29), goal=100_000, currency="USD")
    assert drawn.y_max == 100_000 and [t.value for t in drawn.y_ticks] == [0, 25_000, 50_000, 75_000, 100_000]
    base, top = chart.TOP + chart.PLOT_H, chart.TOP
    assert [p.y for p in drawn.points] == [base - chart.PLOT_H // 4, base - chart.PLOT_H // 4,
                                           base - chart.PLOT_H // 2, top]
    assert drawn.goal_y == top  # $1,000 reached exactly
    assert all(isinstance(v, int) for p in drawn.points for v in (p.x, p.y))
    assert drawn.points[0].x == chart.LEFT and drawn.points[1].x == chart.LEFT + chart.PLOT_W // 29
    assert drawn.x_ticks[0].value == start and drawn.x_ticks[-1].value == start + timedelta(days=29)
    assert drawn.x_ticks[-1].pos == chart.WIDTH - chart.RIGHT and len(drawn.x_ticks) <= chart.MAX_X_LABELS
    assert drawn.area.startswith(f"M{chart.LEFT},{base} L{chart.LEFT},") and drawn.area.endswith("Z")


def test_more_than_the_goal_raises_the_axis():
    start = date(2025, 3, 1)
    drawn = chart.build_chart(days_from(start, [130_000]), start, start, goal=100_000, currency="USD")
    assert drawn.y_max == 200_000 and drawn.points[0].y > chart.TOP and drawn.goal_y > drawn.points[0].y


def test_shares_add_up_to_exactly_one_hundred_percent():
    assert _shares([1, 1, 1], 3) == [3334, 3333, 3333]
    assert _shares([0, 0], 0) == [0, 0]
    assert sum(_shares([6500, 6000, 7000, 1234], 20734)) == 10_000
