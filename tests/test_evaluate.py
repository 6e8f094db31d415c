"""The solver comparison: the ladder solves exactly the stored test inputs at every setting, runs
for every problem (all fields) or says why a setting was skipped, and the speed-up is taken at
matched accuracy."""

import time

import pytest
import torch

from pdekit.data.dataset import load_pairs
from pdekit.data.generate import generate
from pdekit.eval.evaluate import solver_ladder, speed_verdict
from pdekit.problems import get_problem


def _ladder(tmp_path, name, resolution, params, surrogate_error, n=3, target_time=-1):
    problem = get_problem(name).from_params(resolution, params)
    tmp_path.mkdir(parents=True, exist_ok=True)
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


def test_an_iterative_solver_s_tolerance_is_loosened_like_a_time_step(tmp_path):
    """Darcy by conjugate gradients (solver: cg; auto picks it on a GPU) at cg_tol 1e-10 is far more
    accurate than a surrogate: the ladder loosens the tolerance 100x per setting up to 1e-2 (the
    loosest still 4.5e-4 from the data on 57 nodes), then coarsens the grid; the direct solver has no
    tolerance to loosen."""
    rows, skipped, _ = _ladder(tmp_path / "cg", "darcy_2d", 15, {"solve_resolution": 57, "solver": "cg"},
                               surrogate_error=0.02)
    assert [(r["solve_resolution"], r["cg_tol"]) for r in rows] == [
        (57, 1e-10), (57, 1e-8), (57, 1e-6), (57, 1e-4), (57, 1e-2), (29, 1e-2), (15, 1e-2), (15, 1e-4)]
    assert rows[0]["rel_l2"] < 1e-7 < rows[3]["rel_l2"] < 1e-5 < 1e-4 < rows[4]["rel_l2"] < 1e-3 and not skipped
    rows, _, _ = _ladder(tmp_path / "direct", "darcy_2d", 15, {"solve_resolution": 57}, surrogate_error=0.02)
    assert rows and not any("cg_tol" in r for r in rows)


def test_newton_s_tolerance_is_loosened_like_cg_s(tmp_path):
    """The lid-driven cavity stops Newton at tol = 1e-10 (max-norm of the discrete equations): the
    ladder loosens it 100x per setting up to 1e-2 (7e-4 from the data on 33 nodes), as Darcy's CG."""
    rows, skipped, _ = _ladder(tmp_path, "cavity_2d", 17, {"solve_resolution": 33, "re": 100.0, "re_max": 400.0},
                               surrogate_error=0.02)
    assert [(r["solve_resolution"], r["tol"]) for r in rows][:5] == [(33, 1e-10), (33, 1e-8), (33, 1e-6), (33, 1e-4),
                                                                      (33, 1e-2)]
    assert rows[0]["rel_l2"] < 1e-7 and 1e-4 < rows[4]["rel_l2"] < 2e-3 and not skipped


def test_ladder_covers_every_field_and_reports_skipped_settings(tmp_path):
    rows, skipped, _ = _ladder(tmp_path, "wave_2d", 16, {"nt": 3, "t_final": 0.2}, surrogate_error=1e-3, n=2)
    assert rows and rows[0]["rel_l2"] < 1e-6  # u and v both compared (a mismatch in v would show)
    rows, skipped, _ = _ladder(tmp_path, "burgers_1d", 64, {"solve_resolution": 256, "dt": 0.01},
                               surrogate_error=1e-3)
    assert rows[0]["rel_l2"] < 1e-6 and rows[-1]["rel_l2"] > 1e-3  # the crossing is in the table
    assert any("unstable" in s["reason"] for s in skipped)
    # integrate() steps at most one stored interval (t_final / (nt - 1) = 0.1): no larger dt is listed
    assert max(r["dt"] for r in rows) <= 0.1 and len({(r["solve_resolution"], r["dt"]) for r in rows}) == len(rows)


def test_band_limited_inputs_are_solved_exactly_on_every_coarser_grid(tmp_path, monkeypatch):
    """heat_1d is exact in time and spectral in space: with 3 input modes every grid that resolves
    them (8 points and up) reproduces the stored data after Fourier interpolation, to float32
    rounding; 4 points alias mode 3. This checks the drawn inputs and the interpolation together."""
    from pdekit.problems.heat import Heat1D

    monkeypatch.setattr(Heat1D, "input_modes", 3)
    rows, skipped, _ = _ladder(tmp_path, "heat_1d", 32, {"nt": 2, "nu": 0.01}, surrogate_error=1e-3)
    errors = {r["solve_resolution"]: r["rel_l2"] for r in rows}
    assert list(errors) == [32, 16, 8, 4] and not skipped
    assert max(errors[32], errors[16], errors[8]) < 1e-7 and errors[4] > 1e-3


def test_a_coarser_grid_halves_the_step_where_the_finer_grid_s_largest_step_misses():
    """Errors made up as a time part (1e-4 per step factor) plus a space part per grid, against a
    surrogate at 5e-4: the 128 grid misses at the 256 grid's largest accurate factor 4 but matches
    at 2, and in 2D a grid at half the points per axis and half the step costs half as much, so it
    must be tried; the ladder ends on the 32 grid, which misses even at the data's step."""
    from pdekit.eval.evaluate import ladder

    problem = get_problem("navier_stokes_2d").from_params(64, {"nt": 3, "t_final": 2.0})
    space = {256: 0.0, 128: 1.5e-4, 64: 3.5e-4, 32: 1e-2}
    tried = []

    def attempt(params):
        factor = round(params["dt"] / problem.config.dt)
        tried.append((params["solve_resolution"], factor))
        return None, 1e-4 * factor + space[params["solve_resolution"]], 0.0

    rows, skipped, _ = ladder(problem, 1.0, 5e-4, attempt)
    assert tried == [(256, 1), (256, 2), (256, 4), (256, 8), (128, 4), (128, 2), (64, 2), (64, 1), (32, 1)]
    assert len(rows) == len(tried) and not skipped
    # where the grid's own error dominates, one halving that barely helps ends the descent and the ladder
    space[128], tried[:] = 1e-2, []
    ladder(problem, 1.0, 5e-4, attempt)
    assert tried == [(256, 1), (256, 2), (256, 4), (256, 8), (128, 4), (128, 2)]


@pytest.mark.parametrize("g, r", [(4, 12), (5, 12), (5, 11), (6, 9), (8, 16)])
def test_fourier_interpolation_to_the_stored_grid_is_exact_for_resolved_modes(g, r):
    from pdekit.eval.evaluate import regrid

    problem = get_problem("heat_2d").from_params(r, {"solve_resolution": r})
    kmax = (g - 1) // 2  # modes the coarse grid resolves without a Nyquist ambiguity

    def field(n):
        x = torch.arange(n, dtype=torch.float64) / n
        xx, yy = torch.meshgrid(x, x, indexing="ij")
        return 1 + torch.cos(2 * torch.pi * kmax * xx + 0.3) * torch.sin(2 * torch.pi * yy + 0.1)

    assert torch.allclose(regrid(problem, field(g)[None], g, r)[0], field(r), atol=1e-12)


@pytest.mark.parametrize("trajectory", [False, True])
def test_a_solver_is_timed_from_the_stored_state_the_surrogate_reads_not_from_the_initial_one(tmp_path, monkeypatch,
                                                                                              trajectory):
    """An input slice after t = 0 (w at t = 1..10 -> t = 11..50 in ns_fno3d; likewise data stored
    after a spin-up): the solver starts from the stored state the surrogate reads and covers only the
    predicted times, instead of solving from the initial state (ns_fno3d's solver did 50 time units
    for the surrogate's 40). heat_1d is exact in time, so its data setting reproduces the targets to
    float32 rounding from the stored state."""
    from torch import nn

    from pdekit.data.dataset import Normalizer
    from pdekit.eval.evaluate import compare_with_solver
    from pdekit.problems.heat import Heat1D
    from pdekit.train.supervised import TrainedModel

    problem = get_problem("heat_1d").from_params(32, {"nt": 6, "t_final": 0.5, "nu": 0.01})
    generate(problem, 3, seed=4, out=tmp_path / "h.h5", quiet=True)
    steps = 2 if trajectory else 1
    x, y, _ = load_pairs(tmp_path / "h.h5", input_time=2, trajectory=trajectory, input_steps=steps)
    target = slice(2 + steps, None) if trajectory else -1

    class Last(nn.Module):  # the last input slice as the prediction: a poor surrogate, so the ladder descends
        def forward(self, z):
            return z[:, -1:]

    unit = Normalizer(torch.zeros(x.shape[1]), torch.ones(x.shape[1]))
    trained = TrainedModel(Last(), unit, Normalizer(torch.zeros(1), torch.ones(1)))
    advanced = []
    original = Heat1D.advance

    def spy(self, fields, times):
        advanced.append([round(t, 12) for t in times])
        return original(self, fields, times)

    def refuse(self, inputs):
        raise AssertionError("solved from the initial state")

    monkeypatch.setattr(Heat1D, "advance", spy)
    monkeypatch.setattr(Heat1D, "solve", refuse)
    out = compare_with_solver(trained, problem, 4, 0, x, y, target, 2, rounds=1, input_steps=steps)
    rows = out["solver_ladder"]
    assert rows[0]["solve_resolution"] == 32 and rows[0]["rel_l2"] < 1e-6 < out["timed_rel_l2"]
    assert out["threads"] == torch.get_num_threads() and out["solver_from_stored_state"]
    assert advanced[0] == ([0.0, 0.1, 0.2] if trajectory else [0.0, 0.3])  # from t = 0.2 (0.3 with 2 steps)


@pytest.mark.parametrize("input_time", [0, 1])
def test_a_solver_setting_is_timed_until_its_answer_is_on_the_stored_grid(tmp_path, monkeypatch, input_time):
    """The surrogate answers on the stored grid; a coarser solver grid's answer needs interpolating
    to it, which is part of the solver's cost (it was left outside the timed call). A slowed regrid
    shows in every row's times, from the initial state (input_time 0) and from a stored one (1)."""
    from torch import nn

    from pdekit.data.dataset import Normalizer
    from pdekit.eval import evaluate
    from pdekit.train.supervised import TrainedModel

    problem = get_problem("heat_1d").from_params(32, {"nt": 3, "t_final": 0.2, "nu": 0.01})
    generate(problem, 3, seed=4, out=tmp_path / "h.h5", quiet=True)
    x, y, _ = load_pairs(tmp_path / "h.h5", input_time=input_time)

    class Same(nn.Module):  # the input as the prediction: a poor surrogate, so the ladder descends
        def forward(self, z):
            return z

    unit = Normalizer(torch.zeros(1), torch.ones(1))
    trained = TrainedModel(Same(), unit, unit)
    delay, original = 0.05, evaluate.regrid

    def slow(*args):
        time.sleep(delay)
        return original(*args)

    monkeypatch.setattr(evaluate, "regrid", slow)
    out = evaluate.compare_with_solver(trained, problem, 4, 0, x, y, -1, input_time, rounds=1)
    rows = out["solver_ladder"]
    assert len(rows) >= 2 and rows[-1]["solve_resolution"] < 32 and out["solver_from_stored_state"] == (input_time > 0)
    for row in rows:
        assert row["first_call_seconds"] * 3 >= delay and row["seconds_per_sample"] * 3 >= delay


def test_the_solver_starts_from_the_stored_state_only_where_the_surrogate_reads_a_later_one():
    from pdekit.eval.evaluate import _after_the_start

    heat = get_problem("heat_1d").from_params(16, {"nt": 6})
    x, y = torch.zeros(2, 3, 3, 16), torch.zeros(2, 1, 3, 16)
    assert _after_the_start(heat, x[:, :1, 0], y[:, :, 0], -1, 0, 1) is None  # u(0) -> u(T): the solver's own run
    start, times, truth = _after_the_start(heat, x, y, slice(3, None), 0, 3)  # reads t0..t2: starts at t2
    assert start.shape == (2, 1, 16) and times == heat.times()[2:] and truth.shape == (2, 3, 1, 16)
    combined = get_problem("combined_1d").from_params(50, {"nt": 6, "t_final": 0.5})
    assert not combined.autonomous  # forced in time: its step needs the forcing, not stored, so its solve is timed
    assert _after_the_start(combined, x[:, :1, 0], y[:, :, 0], -1, 2, 1) is None


def test_keep_best_keeps_the_weights_of_the_best_validation_epoch(tmp_path, monkeypatch):
    from pdekit.pipeline import split_ranges, train_recipe
    from pdekit.recipes import load_recipe
    from pdekit.train.supervised import load_trained

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = {"name": "best", "data": {"problem": "heat_1d", "resolution": 16, "params": {"nu": 0.02}, "n_train": 20},
           "model": {"name": "fno", "modes": 4, "width": 6, "depth": 1},
           "train": {"epochs": 8, "batch_size": 10, "lr": 0.1, "scheduler": "none", "keep_best": True, "threads": 1}}
    recipe = load_recipe(raw)  # a large learning rate, so the last epoch is not the best (epoch 4 is)
    assert split_ranges(recipe.data) == {"train": (0, 20), "val": (20, 2), "test": (22, 200)}
    trained, _ = train_recipe(recipe, str(tmp_path / "run"), quiet=True)
    val = [h["val_rel_l2"] for h in trained.history]
    assert trained.epoch == 1 + val.index(min(val)) != len(val)
    again, _ = load_trained(str(tmp_path / "run"))
    assert again.epoch == trained.epoch
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), trained.model.state_dict().values()))


def test_speedup_is_taken_at_matched_accuracy():
    rows = [{"solve_resolution": 64, "rel_l2": 1e-8, "seconds_per_sample": 1.0},
            {"solve_resolution": 32, "rel_l2": 1e-3, "seconds_per_sample": 0.2},
            {"solve_resolution": 16, "rel_l2": 5e-2, "seconds_per_sample": 0.05}]
    out = speed_verdict(rows, model_seconds=0.1, surrogate_error=4e-3)
    assert out["speedup"] == pytest.approx(2.0) and out["matched_setting"]["solve_resolution"] == 32
    assert out["speed_verdict"].startswith("At equal accuracy the surrogate is 2x faster")
    out = speed_verdict(rows, model_seconds=0.5, surrogate_error=4e-3)
    assert out["speedup"] == pytest.approx(0.4) and "the solver is 2.5x faster" in out["speed_verdict"]
    out = speed_verdict(rows[:2], model_seconds=0.5, surrogate_error=4e-3)  # no setting less accurate: a bound
    assert out["speed_verdict"].startswith("Every solver setting tried was at least as accurate as the surrogate, so "
                                           "at equal accuracy the solver is at least 2.5x faster")
    out = speed_verdict(rows[:2], model_seconds=0.1, surrogate_error=4e-3)
    assert "the surrogate is at most 2x faster" in out["speed_verdict"] and out["speedup_is"] == "an upper bound"
    assert speed_verdict(rows, model_seconds=0.1, surrogate_error=4e-3)["speedup_is"] == "measured"


def test_no_speedup_says_why():
    """A surrogate whose error is not finite has nothing to match (every setting would beat it, which
    read as "the surrogate is more accurate than every setting"); a solver that could not run at the
    data's setting is not "no pdekit solver"."""
    rows = [{"solve_resolution": 64, "rel_l2": 1e-8, "seconds_per_sample": 1.0}]
    out = speed_verdict(rows, model_seconds=0.1, surrogate_error=float("nan"))
    assert out["speedup"] is None and out["speed_verdict"] == ("The surrogate's error on the timed samples is nan: "
                                                               "no solver setting can be matched to it.")
    out = speed_verdict([], 0.1, 1e-3, [{"solve_resolution": 64, "reason": "its inputs differ from the stored ones"}])
    assert out["speed_verdict"] == ("The solver could not run at the data's setting (its inputs differ from the "
                                    "stored ones).")
    assert speed_verdict([], 0.1, 1e-3)["speed_verdict"] == "The solver was not timed (no pdekit solver for this data)."
