"""Lie point symmetries as augmentation: the solver's answer to a shifted and boosted initial state
is the shifted and boosted solution (Burgers, KdV, Kuramoto-Sivashinsky), not so for an equation
without the symmetry, and rollout training draws them per window."""

import numpy as np
import pytest
import torch

from pdekit.data.generate import sample_rng
from pdekit.data.lie import shift, transform
from pdekit.errors import ConfigError
from pdekit.problems import get_problem
from pdekit.recipes import load_recipe


def _solve_both(name, params, s, c):
    """(transform of the solution, solution of the transformed start), both (2, nt, 1, n)."""
    p = get_problem(name).from_params(params.pop("resolution"), params)
    u0 = torch.from_numpy(np.stack([p.sample_inputs(sample_rng(0, i))["u0"] for i in range(2)]))
    t = torch.as_tensor(p.times(), dtype=torch.float64)
    ss, cc = torch.full((2,), s, dtype=torch.float64), torch.full((2,), c, dtype=torch.float64)
    moved = transform(u0[:, None, None], t[:1], ss, cc, p.length)[:, 0, 0]
    return (transform(p.solve({"u0": u0})["u"][:, :, None], t, ss, cc, p.length),
            p.solve({"u0": moved})["u"][:, :, None])


# the bounds: 4-6x the measured relative max differences (comments), which come from the time
# stepping (the boost moves the solution through the explicit nonlinear term): KS with dt = 0.05
# gives 9.3e-5, with dt = 0.01 2.2e-7, the fourth order of ETDRK4
@pytest.mark.parametrize("name, params, c, bound", [
    ("burgers_1d", {"resolution": 256, "solve_resolution": 256, "t_final": 0.5, "nt": 11, "nu": 0.01}, 0.3,
     1e-6),  # 1.8e-7
    ("kdv_1d", {"resolution": 128, "solve_resolution": 128, "length": 32.0, "t_final": 2.0, "nt": 11}, 0.2,
     3e-7),  # 5.6e-8
    ("kuramoto_sivashinsky_1d", {"resolution": 64, "solve_resolution": 64, "length": 22.0, "spinup": 0.0,
                                 "t_final": 2.0, "nt": 11, "dt": 0.01}, 0.2, 1e-6),  # 2.2e-7
])
def test_a_shifted_and_boosted_start_solves_to_the_shifted_and_boosted_solution(name, params, c, bound):
    expected, got = _solve_both(name, dict(params), s=0.1234 * params.get("length", 1.0), c=c)
    assert float((expected - got).abs().max() / got.abs().max()) < bound


def test_advection_has_no_galilean_symmetry_and_the_check_sees_it():
    expected, got = _solve_both("advection_1d", {"resolution": 64, "solve_resolution": 64, "t_final": 0.5, "nt": 11,
                                                 "beta": 1.0}, s=0.3, c=0.5)
    assert float((expected - got).abs().max() / got.abs().max()) > 0.1
    expected, got = _solve_both("advection_1d", {"resolution": 64, "solve_resolution": 64, "t_final": 0.5, "nt": 11,
                                                 "beta": 1.0}, s=0.3, c=0.0)
    assert float((expected - got).abs().max() / got.abs().max()) < 1e-10  # shifts it has


def test_a_fourier_shift_by_whole_cells_is_a_roll():
    u = torch.randn(3, 32, dtype=torch.float64)
    u = torch.fft.irfft(torch.fft.rfft(u) * (torch.arange(17) < 16), n=32)  # no Nyquist content
    assert torch.allclose(shift(u, torch.tensor(5 * 2.0 / 32, dtype=torch.float64), 2.0), torch.roll(u, 5, -1),
                          atol=1e-12)


def test_rollout_augmentation_is_refused_where_the_problem_lacks_the_symmetry():
    with pytest.raises(ConfigError, match="which combined_1d does not declare.*one of: burgers_1d, heat_1d, kdv_1d"):
        load_recipe("combined_mppde", quick=True, overrides=["train.augment=true"])
    with pytest.raises(ConfigError, match="transforms 1D periodic trajectories; heat_2d is 2D"):  # before any data
        load_recipe("ks_rollout", quick=True, overrides=["data.problem=heat_2d", "data.params={t_final: 1.0, nt: 11}",
                                                         "data.resolution=16", "train.augment=true"])
    with pytest.raises(ConfigError, match="train.augment_boost needs train.augment: true"):
        load_recipe("ks_rollout", quick=True, overrides=["train.augment_boost=0.5"])
    recipe = load_recipe("ks_rollout", quick=True, overrides=["train.augment=true", "train.augment_boost=0.5"])
    assert recipe.task.augment and recipe.task.augment_boost == 0.5


def test_augmented_windows_are_shifted_and_boosted_copies():
    """Each augmented window (inputs and targets together) is transform(window, s, c) for some
    shift s and boost |c| <= augment_boost: its mean moved by c, the shifted spectrum's magnitudes kept."""
    from pdekit.train.rollout import Autoregressive, RolloutConfig, RolloutTask

    torch.manual_seed(0)
    x, y = torch.randn(8, 2, 1, 32), torch.randn(8, 3, 1, 32)
    task = RolloutTask((x, y), (x, y), RolloutConfig(augment=True, augment_boost=0.5), period=1.0)

    class Cfg:
        seed, batch_size, epochs, lbfgs_steps = 0, 8, 1, 0

    task.setup(Autoregressive(torch.nn.Conv1d(2, 1, 1), channels=1, history=2, dt=0.1), Cfg, "cpu")
    xb, yb, *_ = next(iter(task.batches(1, torch.float32)))
    order = torch.randperm(8, generator=torch.Generator().manual_seed(1))  # the epoch's shuffle
    both, original = torch.cat([xb, yb], 1).double(), torch.cat([x, y], 1)[order].double()
    c = (both.mean(-1) - original.mean(-1))[:, :, 0]
    assert torch.allclose(c, c[:, :1].expand_as(c), atol=1e-5) and float(c.abs().max()) <= 0.5 and float(c.abs().max()) > 0.05
    magnitude = lambda u: torch.fft.rfft(u)[..., 1:-1].abs()  # noqa: E731  (random data: Nyquist not band-limited)
    assert torch.allclose(magnitude(both), magnitude(original), atol=1e-4)


def test_windows_stored_coarser_than_solved_shift_by_whole_cells():
    """With whole_cells (data on every k-th point of a finer solve grid, not band-limited) each
    augmented window without a boost is a roll of the original by a whole number of cells."""
    from pdekit.train.rollout import Autoregressive, RolloutConfig, RolloutTask

    torch.manual_seed(0)
    x, y = torch.randn(8, 2, 1, 32), torch.randn(8, 3, 1, 32)

    class Cfg:
        seed, batch_size, epochs, lbfgs_steps = 0, 8, 1, 0

    task = RolloutTask((x, y), (x, y), RolloutConfig(augment=True), period=2.0, whole_cells=True)
    task.setup(Autoregressive(torch.nn.Conv1d(2, 1, 1), channels=1, history=2, dt=0.1), Cfg, "cpu")
    xb, yb, *_ = next(iter(task.batches(1, torch.float32)))
    order = torch.randperm(8, generator=torch.Generator().manual_seed(1))  # the epoch's shuffle
    both, original = torch.cat([xb, yb], 1), torch.cat([x, y], 1)[order]
    rolls = [[m for m in range(32) if torch.allclose(torch.roll(original[i], m, -1), both[i], atol=1e-5)]
             for i in range(8)]
    assert all(len(r) == 1 for r in rolls) and len({r[0] for r in rolls}) > 1, rolls
