"""bench/risk.py --quick: the backtest runs the real rules and scorecard over a small simulated
population and prints its figures; the flags separate simulated fraud better than chance."""
import importlib.util
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "risk.py"


@pytest.fixture(scope="module")
def bench_risk():
    spec = importlib.util.spec_from_file_location("bench_risk_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figure(output: str, label: str) -> float:
    match = re.search(re.escape(label) + r": ([0-9.]+)", output)
    assert match, f"no '{label}' line in:\n{output}"
    return float(match.group(1))


def test_quick_run_prints_the_figures_and_separates_fraud(bench_risk, capsys):
    result = bench_risk.main(["--quick", "--seed", "5"])
    output = capsys.readouterr().out

    assert _figure(output, "AUC 60 days after funding") > 0.5
    assert _figure(output, "AUC at the first release") > 0.5
    assert re.search(r"precision at the top 5 % \(60 days after funding\): [0-9.]+ %", output)
    assert re.search(r"recall \(score >= \d+ at any time\): [0-9.]+ %", output)
    assert re.search(r"lead time \(first flag to declared abandonment\): median \d+ days, quartiles \d+-\d+", output)
    assert re.search(r"evaluate\(\) \+ scorecard\(\), one call: [0-9.]+ µs", output)
    # The top 5 % holds more fraud than the population does.
    assert result["precision top 5%"] > result["base rate"]


def test_auc_is_the_rank_formula(bench_risk):
    assert bench_risk.auc([3, 4], [1, 2]) == 1.0
    assert bench_risk.auc([1, 2], [3, 4]) == 0.0
    assert bench_risk.auc([1, 1], [1, 1]) == 0.5  # ties count half
    assert bench_risk.auc([2, 0], [1]) == 0.5
