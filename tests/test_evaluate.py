"""The solver comparison: the ladder solves exactly the stored test inputs at every setting, runs
for every problem (all fields) or says why a setting was skipped, and the speed-up is taken at
matched accuracy."""

import pytest
import torch

from pdekit.data.dataset import load_pairs
from pdekit.data.generate import generate
from pdekit.eval.evaluate import solver_ladder, speed_verdict
from pdekit.problems import get_problem


def _ladder(tmp_path, name, resolution, params, surrogate_error, n=3, target_time=-1):
    problem = get_problem(name).from_params(resolution, params)
    path = tmp_path / f"{name}.h5"
    generate(problem, n, seed=4, out=path, quiet=True, first=10)
    x, y, _ = load_pairs(path, target_time=target_time)
    return solver_ladder(problem, 4, 10, x, y, target_time, "cpu", surrogate_error)


def test_darcy_ladder_solves_the_stored_coefficients(tmp_path):
    # before inputs were one function at every resolution, the 29- and 15-node rows scored 0.2-0.3:
    # they solved other coefficients
    rows, skipped, _ = _ladder(tmp_path, "darcy_2d", 15, {"solve_resolution": 57}, surrogate_error=0.05)
    errors = {r["solve_resolution"]: r["rel_l2"] for r in rows}
    assert not skipped and list(errors) == [57, 29, 15, 8]
    assert errors[57] < 1e-7  # the data's own setting: float32 rounding only
    assert 0.005 < errors[29] < 0.025 and errors[29] < errors[15] < 0.04 < 0.05 < errors[8]


def test_ladder_covers_every_field_and_reports_skipped_settings(tmp_path):
    rows, skipped, _ = _ladder(tmp_path, "wave_2d", 16, {"nt": 3, "t_final": 0.2}, surrogate_error=1e-3, n=2)
    assert rows and rows[0]["rel_l2"] < 1e-6  # u and v both compared (a mismatch in v would show)
    rows, skipped, _ = _ladder(tmp_path, "burgers_1d", 64, {"solve_resolution": 256, "dt": 0.01},
                               surrogate_error=1e-3)
    assert rows[0]["rel_l2"] < 1e-6 and rows[-1]["rel_l2"] > 1e-3  # the crossing is in the table
    assert any("unstable" in s["reason"] for s in skipped)
    assert all(r["dt"] <= 0.01 * 2**10 for r in rows)


def test_speedup_is_taken_at_matched_accuracy():
    rows = [{"solve_resolution": 64, "rel_l2": 1e-8, "seconds_per_sample": 1.0},
            {"solve_resolution": 32, "rel_l2": 1e-3, "seconds_per_sample": 0.2},
            {"solve_resolution": 16, "rel_l2": 5e-2, "seconds_per_sample": 0.05}]
    out = speed_verdict(rows, model_seconds=0.1, surrogate_error=4e-3)
    assert out["speedup"] == pytest.approx(2.0) and out["matched_setting"]["solve_resolution"] == 32
    assert out["speed_verdict"].startswith("At equal accuracy the surrogate is 2x faster")
    out = speed_verdict(rows, model_seconds=0.5, surrogate_error=4e-3)
    assert out["speedup"] == pytest.approx(0.4) and "the solver is 2.5x faster" in out["speed_verdict"]
    out = speed_verdict(rows[:2], model_seconds=0.5, surrogate_error=4e-3)
    assert "a cheaper one might still match it" in out["speed_verdict"]
