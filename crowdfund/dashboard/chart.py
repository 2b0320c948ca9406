"""Geometry of the funding chart, drawn by the server as inline SVG (templates/dashboard/_chart.html):
no JavaScript, nothing from a CDN. Amounts are scaled to pixels with integer arithmetic only."""
from dataclasses import dataclass
from datetime import date

from crowdfund.money import exponent

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 16, 40  # margins around the plot, for the axis labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
Y_TICKS = 4
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    day: object  # dashboard.services.Day


@dataclass(frozen=True)
class Tick:
    pos: int      # y for amount ticks, x for date ticks
    value: object  # an amount in minor units, or a date


@dataclass(frozen=True)
class Chart:
    points: list[Point]
    line: str          # polyline points
    area: str          # path data of the filled area under the line
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    goal_y: int | None
    y_max: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right_x: int = WIDTH - RIGHT
    base_y: int = TOP + PLOT_H


def nice_step(minimum: int, currency: str) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10^k whole units of currency (in minor units) that is ≥ minimum
    (2.5 only where it is a whole number of minor units: ¥25, not ¥2.5)."""
    unit = 10 ** exponent(currency)
    while True:
        for tenths in (10, 20, 25, 50):
            if tenths * unit % 10 == 0 and tenths * unit // 10 >= minimum:
                return tenths * unit // 10
        unit *= 10


def build_chart(days, start: date, axis_end: date, goal: int, currency: str) -> Chart:
    """Points for each Day (x by date from launch to the axis' end, y by cumulative amount), axis
    ticks at round amounts, and the goal's height."""
    top_value = max([days[-1].cumulative if days else 0, goal, 1])
    step = nice_step(-(-top_value // Y_TICKS), currency)
    y_max = step * Y_TICKS
    span = max((axis_end - start).days, 1)

    def x_of(day: date) -> int:
        return LEFT + (day - start).days * PLOT_W // span

    def y_of(amount: int) -> int:
        return TOP + PLOT_H - amount * PLOT_H // y_max

    points = [Point(x_of(d.day), y_of(d.cumulative), d) for d in days]
    line = " ".join(f"{p.x},{p.y}" for p in points)
    base = TOP + PLOT_H
    area = ""
    if points:
        area = (f"M{points[0].x},{base} " + " ".join(f"L{p.x},{p.y}" for p in points)
                + f" L{points[-1].x},{base} Z")
    y_ticks = [Tick(y_of(i * step), i * step) for i in range(Y_TICKS + 1)]
    return Chart(points=points, line=line, area=area, y_ticks=y_ticks, x_ticks=_date_ticks(start, axis_end, x_of),
                 goal_y=y_of(goal) if goal > 0 else None, y_max=y_max)


def _date_ticks(start: date, end: date, x_of) -> list[Tick]:
    """At most MAX_X_LABELS dates, evenly spaced, always the first and the last."""
    span = (end - start).days
    if span == 0:
        return [Tick(x_of(start), start)]
    every = -(-span // (MAX_X_LABELS - 1))
    offsets = list(range(0, span, every))
    if span - offsets[-1] < every // 2 + 1 and len(offsets) > 1:
        offsets.pop()  # too close to the last label: let the last one stand alone
    offsets.append(span)
    return [Tick(x_of(date.fromordinal(start.toordinal() + o)), date.fromordinal(start.toordinal() + o))
            for o in offsets]
