"""Inputs recovered through a trained operator: the optimizer on an exact operator, the synthetic
observations, the solver check, and `pdekit invert` on a tiny run."""

import json
import math

import numpy as np
import pytest
import torch

from pdekit.data.dataset import Normalizer
from pdekit.errors import ConfigError
from pdekit.eval.inverse import masked_rel_l2, observe, recover_inputs
from pdekit.eval.metrics import relative_l2 as rel_l2
from pdekit.train.supervised import TrainedModel


class Blur(torch.nn.Module):
    """A periodic Gaussian blur: a smoothing operator whose inverse amplifies noise."""

    def forward(self, a):
        k = torch.fft.rfftfreq(a.shape[-1], 1.0 / a.shape[-1], dtype=a.dtype)
        return torch.fft.irfft(torch.fft.rfft(a) * torch.exp(-((k / 6.0) ** 2)), n=a.shape[-1])


class Normalized(torch.nn.Module):
    """An exact 'trained' network: normalized inputs to normalized outputs of ``op``, as a trained
    operator works (so a missing encode or decode shows)."""

    def __init__(self, op, x_norm, y_norm):
        super().__init__()
        self.op, self.x_norm, self.y_norm = op, x_norm, y_norm

    def forward(self, z):
        return self.y_norm.encode(self.op(self.x_norm.decode(z)))


def _blurred(n_samples=8, n=64):
    """Inputs of modes 1..4 around 1 and their blurred outputs, with an exact 'trained' model whose
    normalizers are not the identity."""
    g = torch.Generator().manual_seed(0)
    x = torch.arange(n, dtype=torch.float64) / n
    c = torch.randn(n_samples, 2, 4, generator=g, dtype=torch.float64)
    k = torch.arange(1, 5, dtype=torch.float64)
    a = 1 + 0.5 * (c[:, 0, :, None] * torch.sin(2 * math.pi * k[:, None] * x)
                   + c[:, 1, :, None] * torch.cos(2 * math.pi * k[:, None] * x)).sum(1)[:, None]
    x_norm, y_norm = Normalizer(torch.tensor([1.5]), torch.tensor([2.0])), Normalizer(torch.tensor([0.5]),
                                                                                      torch.tensor([3.0]))
    trained = TrainedModel(Normalized(Blur(), x_norm, y_norm), x_norm, y_norm)
    return trained, a.float(), Blur()(a).float()


def test_exact_complete_observations_give_back_the_inputs():
    """L-BFGS (float64) from the mean input recovers the inputs of an exact smoothing operator to
    round-off (measured 2e-7; Adam's per-point steps left 0.11 after 500 steps)."""
    trained, a, u = _blurred()
    found = recover_inputs(trained, u, smoothness=0.0, periodic=True, quiet=True)
    assert float(rel_l2(found.inputs, a).max()) < 1e-5
    assert float(found.misfit.max()) < 1e-5 and len(found.history) >= 1


def test_sparse_noisy_observations_with_smoothness():
    """A quarter of the points with 1% noise: the smoothness penalty recovers the inputs to a median
    error of 0.059 (no penalty: 0.25; one sample, with 7 points observed for 9 unknown coefficients,
    stays at 0.7 either way), and bounds keep them inside the box."""
    trained, a, u = _blurred()
    observed, mask = observe(u, 0.01, 0.25, seed=1)
    plain = recover_inputs(trained, observed, mask, smoothness=0.0, periodic=True, quiet=True)
    smooth = recover_inputs(trained, observed, mask, smoothness=1e-6, periodic=True, quiet=True)
    assert float(rel_l2(smooth.inputs, a).median()) < 0.07 < 0.2 < float(rel_l2(plain.inputs, a).median())
    boxed = recover_inputs(trained, observed, mask, smoothness=1e-6, periodic=True, quiet=True, bounds=(0.0, 1.5))
    assert float(boxed.inputs.min()) >= 0.0 and float(boxed.inputs.max()) <= 1.5
    assert float(boxed.inputs.max()) > 1.45  # the true inputs reach 2.6: the box is felt


class BlurInTime(torch.nn.Module):
    """A trajectory operator as trajectory runs read it: input (n, 1, nt, nx) the initial state
    repeated along time, output (n, 1, nt, nx) the state blurred more at every later time."""

    def forward(self, a):
        nt, nx = a.shape[-2:]
        k = torch.fft.rfftfreq(nx, 1.0 / nx, dtype=a.dtype)
        t = torch.arange(nt, dtype=a.dtype)[:, None] / (nt - 1)
        return torch.fft.irfft(torch.fft.rfft(a) * torch.exp(-((k / 6.0) ** 2) * t), n=nx)


def test_a_trajectorys_initial_state_is_recovered_from_its_later_times():
    """Data assimilation: observed only at the later half of the times, the initial state (one
    slice, repeated along time as the run reads it) is recovered exactly (measured 1e-8; 1.3e-3
    with a smoothness of 1e-6); recovering every time's slice on its own leaves the unobserved early
    ones at the first guess (0.69)."""
    trained, a, _ = _blurred(4)
    a = a.double()[:, :, None].expand(-1, -1, 6, -1)  # (n, 1, nt, nx)
    trained = TrainedModel(Normalized(BlurInTime(), trained.x_normalizer, trained.y_normalizer),
                           trained.x_normalizer, trained.y_normalizer)
    u = BlurInTime()(a)
    mask = torch.zeros_like(u, dtype=torch.bool)
    mask[:, :, 3:] = True
    found = recover_inputs(trained, u, mask, smoothness=0.0, periodic=True, repeated_slice=True, quiet=True)
    assert torch.equal(found.inputs, found.inputs[:, :, :1].expand_as(found.inputs))  # one slice, repeated
    assert float(rel_l2(found.inputs[:, :, 0], a[:, :, 0]).max()) < 1e-6
    alone = recover_inputs(trained, u, mask, smoothness=0.0, periodic=True, quiet=True)
    assert float(rel_l2(alone.inputs[:, :, 0], a[:, :, 0]).min()) > 0.5
    found = recover_inputs(trained, u, mask, smoothness=1e-6, periodic=True, repeated_slice=True, quiet=True)
    assert float(rel_l2(found.inputs[:, :, 0], a[:, :, 0]).max()) < 3e-3  # the roughness of the slice once


def test_observations_have_the_noise_and_the_points_asked_for():
    y = torch.randn(6, 2, 40, 40) * torch.tensor([1.0, 100.0])[:, None, None]  # channels of scales 1 and 100
    observed, mask = observe(y, 0.05, 0.3, seed=3)
    assert mask.shape == (6, 1, 40, 40) and abs(float(mask.float().mean()) - 0.3) < 0.02
    for c in range(2):  # each channel's noise is 5% of its own spread (pooled, u got 5)
        relative = masked_rel_l2(observed[:, c : c + 1], y[:, c : c + 1], mask)
        assert torch.allclose(relative, torch.full((6,), 0.05), rtol=0.15), (c, relative)
    assert torch.equal(observe(y, 0.05, 0.3, seed=3)[0].nan_to_num(), observed.nan_to_num())  # seeded
    assert bool(observed.isnan().eq(~mask).all())  # nothing is known where nothing is observed
    _, sparse = observe(y[:, :, :2, :2], 0.0, 1e-9, seed=0)
    assert sparse.flatten(1).sum(1).tolist() == [1] * 6  # every sample keeps a point


def test_known_channels_are_held_and_the_others_recovered():
    """A second input channel (a known source, here added to the blurred field) is held at its
    given values; only the first is recovered, to the accuracy of the one-channel case."""
    trained, a, u = _blurred()
    source = 0.3 * torch.cos(2 * math.pi * torch.arange(64) / 64).expand(8, 1, 64)

    class TwoInputs(torch.nn.Module):
        def forward(self, z):  # identity normalizers: blur(a) + s
            return Blur()(z[:, :1]) + z[:, 1:]

    identity = Normalizer(torch.zeros(2), torch.ones(2))
    two = TrainedModel(TwoInputs(), identity, Normalizer(torch.zeros(1), torch.ones(1)))
    x = torch.cat([a, source], dim=1)
    found = recover_inputs(two, u + source, channels=[0], held=x, smoothness=0.0, periodic=True, quiet=True)
    assert torch.equal(found.inputs[:, 1:], source.float()) and float(rel_l2(found.inputs[:, :1], a).max()) < 1e-5
    with pytest.raises(ConfigError, match="held must give"):
        recover_inputs(two, u, channels=[0], quiet=True)
    # named in another order, the boxes follow the names (they went to the channels sorted)
    swapped = recover_inputs(two, u + source, channels=[1, 0], bounds=(-0.1, 0.1, 0.0, 1.5), smoothness=0.0,
                             periodic=True, quiet=True, steps=5)
    assert float(swapped.inputs[:, 1].abs().max()) <= 0.1 and float(swapped.inputs[:, 0].max()) > 0.1
    # both recovered, each in a box of its own (one box for all channels was all there was)
    boxed = recover_inputs(two, u + source, bounds=(0.0, 1.5, -0.1, 0.1), smoothness=0.0, periodic=True, quiet=True,
                           steps=50)
    for c, (low, high) in enumerate(((0.0, 1.5), (-0.1, 0.1))):
        values = boxed.inputs[:, c]
        assert low <= float(values.min()) and float(values.max()) <= high and float(values.max()) > 0.9 * high, c


def test_a_solver_that_does_not_confirm_the_recovery_is_said():
    """The network fits the observations, the physics does not: a note says so (the numbers alone
    were printed, 0.0014 beside 1.53). Here the "solver" adds 50 times the input's error."""
    from pdekit.eval.inverse import invert

    trained, a, u = _blurred(4)
    for scale, noted in ((0.0, False), (50.0, True)):
        results, _ = invert(trained, (a, u), (a, u), steps=20, periodic=True, quiet=True,
                            solver=lambda x: Blur()(x.double()).float() + scale * (x - a))
        assert results["solver_baseline_rel_l2"] < 1e-6 and ("solver_note" in results) == noted, results
    # a solver as far off on the true inputs (its own discretization error) is no sign of a fooled network
    results, _ = invert(trained, (a, u), (a, u), steps=20, periodic=True, quiet=True,
                        solver=lambda x: Blur()(x.double()).float() + 50.0 * (x - a) + 5.0)
    assert results["solver_output_rel_l2"] > 10 * results["surrogate_output_rel_l2"] and "solver_note" not in results
    with pytest.raises(ConfigError, match="apply to trajectories"):
        invert(trained, (a, u), (a, u), from_time=1, quiet=True)


def test_bad_requests_are_refused():
    trained, a, u = _blurred(2)
    with pytest.raises(ConfigError, match="at least one observed point"):
        recover_inputs(trained, u, torch.zeros_like(u, dtype=torch.bool), quiet=True)
    with pytest.raises(ConfigError, match="does not broadcast"):
        recover_inputs(trained, u, torch.ones(3, 1, 64, dtype=torch.bool), quiet=True)
    with pytest.raises(ConfigError, match="LOW < HIGH, got 2.0 1.0"):
        recover_inputs(trained, u, bounds=(2.0, 1.0), quiet=True)
    with pytest.raises(ConfigError, match=r"one pair per recovered channel \(1 here, channel 0: 2 numbers\), got 4 numbers"):
        recover_inputs(trained, u, bounds=(0.0, 1.0, 0.0, 2.0), quiet=True)
    with pytest.raises(ConfigError, match="start must be"):
        recover_inputs(trained, u, start=a[:, :, :10], quiet=True)
    with pytest.raises(ConfigError, match="fraction must lie in"):
        observe(u, 0.01, 0.0, seed=0)


def test_the_solver_check_solves_the_given_inputs_on_the_data_grid(tmp_path):
    """solve_inputs reproduces the stored outputs from the stored inputs, and for the linear heat
    equation twice the inputs give twice the outputs (the given inputs are solved, not the drawn)."""
    from pdekit.data.dataset import load_pairs
    from pdekit.data.generate import generate
    from pdekit.eval.inverse import solve_inputs
    from pdekit.problems import get_problem

    problem = get_problem("heat_1d").from_params(32, {"nt": 3, "nu": 0.02})
    path = str(tmp_path / "heat.h5")
    generate(problem, 4, 5, path, quiet=True, first=10)
    x, y, _ = load_pairs(path, 0, -1)
    solved = solve_inputs(problem, 5, 10, x, -1)
    assert float(rel_l2(solved, y).max()) < 1e-6
    assert float(rel_l2(solve_inputs(problem, 5, 10, 2 * x, -1), 2 * y).max()) < 1e-6
    assert float(rel_l2(solve_inputs(problem, 5, 10, x, 1), y).min()) > 0.01  # the target time is honoured
    # data solved on a finer grid: the stored inputs lack its finest modes, the baseline's error
    fine = get_problem("heat_1d").from_params(32, {"nt": 3, "nu": 0.02, "solve_resolution": 64})
    generate(fine, 4, 5, str(tmp_path / "fine.h5"), quiet=True, first=10)
    x, y, _ = load_pairs(str(tmp_path / "fine.h5"), 0, -1)
    assert 1e-3 < float(rel_l2(solve_inputs(fine, 5, 10, x, -1), y).max()) < 0.02  # measured 0.008


def test_the_solver_check_draws_what_else_the_sample_drew_and_keeps_the_channel_order(tmp_path):
    """combined_1d's forcing is drawn per sample (not an input channel): the stored samples' inputs
    give back their outputs only with their own indices. darcy_tensor_2d's four input channels
    (k11, k12, k22, f) go to the solver in their order (swapped, the answer changes)."""
    from pdekit.data.dataset import load_pairs
    from pdekit.data.generate import generate
    from pdekit.eval.inverse import solve_inputs
    from pdekit.problems import get_problem

    combined = get_problem("combined_1d").from_params(40, {"solve_resolution": 40, "t_final": 0.5, "nt": 3})
    generate(combined, 3, 2, str(tmp_path / "c.h5"), quiet=True, first=7)
    x, y, _ = load_pairs(str(tmp_path / "c.h5"), 0, -1)
    assert float(rel_l2(solve_inputs(combined, 2, 7, x, -1), y).max()) < 1e-5
    assert float(rel_l2(solve_inputs(combined, 2, 8, x, -1), y).min()) > 1e-2  # another sample's forcing
    tensor = get_problem("darcy_tensor_2d").from_params(9, {"solve_resolution": 9})
    generate(tensor, 2, 0, str(tmp_path / "t.h5"), quiet=True)
    x, y, _ = load_pairs(str(tmp_path / "t.h5"))
    assert float(rel_l2(solve_inputs(tensor, 0, 0, x, None), y).max()) < 1e-5
    swapped = x[:, [3, 1, 2, 0]]  # k11 and f exchanged: still elliptic, another flow
    assert float(rel_l2(solve_inputs(tensor, 0, 0, swapped, None), y).min()) > 1e-3


def _train_and_invert(run_cli, tmp_path, data: dict, epochs: int, *args):
    """`pdekit run` of a tiny FNO recipe on ``data``, then `pdekit invert` of 3 samples: (printed,
    inverse.json, inverse.npz)."""
    recipe = {"name": "tiny", "description": "a tiny FNO", "data": {**data, "resolution": 32, "seed": 0},
              "model": {"name": "fno", "modes": 6, "hidden_channels": 12, "n_layers": 2},
              "train": {"epochs": epochs, "batch_size": 8, "lr": 3e-3, "threads": 1},
              "eval": {"resolutions": [], "timing_samples": 2, "plot_samples": 1, "solver_ladder": False}}
    (tmp_path / "tiny.json").write_text(json.dumps(recipe))
    run = str(tmp_path / "run")
    assert run_cli("run", str(tmp_path / "tiny.json"), "--out", run, "--quiet")[0] == 0
    code, out, err = run_cli("invert", run, "--samples", "3", "--quiet", *args)
    assert code == 0, err
    return out, json.loads((tmp_path / "run/inverse/inverse.json").read_text()), np.load(tmp_path / "run/inverse/inverse.npz")


def test_pdekit_invert_writes_the_recovery_and_its_solver_check(run_cli, tmp_path, monkeypatch):
    """The recovery of a tiny heat run, its smoothness the validation's best, its solver answer
    recomputed independently, and the solver exact on the true inputs."""
    from pdekit.eval.inverse import solve_inputs
    from pdekit.problems import get_problem

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    data = {"problem": "heat_1d", "params": {"nt": 2, "nu": 0.02}, "n_train": 32, "n_val": 4, "n_test": 4}
    out, result, arrays = _train_and_invert(run_cli, tmp_path, data, 20, "--observed", "0.5")
    assert "recovered input channels [0] of 3 test samples of tiny from 0.5 of the output points with noise 0.01" in out
    assert result["input_rel_l2"] < 0.4 and result["held_channels"] == []  # measured 0.25; unnormalized: 0.8
    assert result["validation_samples"] == 3 and len(result["smoothness_ladder"]) == 5
    assert result["total_seconds"] > result["seconds"] and "s with the choice of the smoothness)" in out
    assert result["smoothness"] == min(result["smoothness_ladder"], key=lambda r: r["val_input_rel_l2"])["smoothness"]
    assert arrays["recovered"].shape == arrays["true_inputs"].shape == (3, 1, 32)
    # the solver's answer for the recovered inputs, recomputed: the test samples are 36 .. 38
    problem = get_problem("heat_1d").from_params(32, {"nt": 2, "nu": 0.02})
    again = solve_inputs(problem, 0, 36, torch.from_numpy(arrays["recovered"]), -1)
    assert np.allclose(again.numpy(), arrays["solver_outputs"], atol=1e-6)
    truth = torch.from_numpy(arrays["true_outputs"])
    assert abs(float(rel_l2(again, truth).mean()) - result["solver_output_rel_l2"]) < 1e-6
    assert result["solver_baseline_rel_l2"] < 1e-6 and (tmp_path / "run/inverse/inverse.png").stat().st_size > 0
    code, _, err = run_cli("invert", str(tmp_path / "run"), "--recover", "7", "--out", str(tmp_path / "refused"))
    assert code == 2 and "--recover must name input channels 0 .. 0 of this run, got 7" in err
    assert not (tmp_path / "refused").exists()  # refused before any data or folder is made
    for bounds, message in ((["--bounds", "1", "0"], "--bounds must be LOW HIGH pairs with LOW < HIGH, got 1 0"),
                            (["--bounds", "0", "1", "--bounds", "0", "2"],
                             "--bounds gives 2 LOW HIGH pairs for 1 recovered channels")):
        code, _, err = run_cli("invert", str(tmp_path / "run"), "--recover", "0", *bounds, "--out",
                               str(tmp_path / "refused"))
        assert code == 2 and message in err and not (tmp_path / "refused").exists()
    # the run folder may follow --bounds (a list of any length swallowed it)
    code, _, err = run_cli("invert", "--bounds", "0", "1", str(tmp_path / "run"), "--recover", "7")
    assert code == 2 and "--recover must name input channels" in err
    code, _, err = run_cli("invert", str(tmp_path / "run"), "--samples", "3", "--steps", "2", "--quiet")
    assert code == 0 and "note: replacing the earlier inversion in" in err, err  # (it was silent)
    code, _, err = run_cli("invert", str(tmp_path / "run"), "--observed-from", "1", "--out", str(tmp_path / "refused"))
    assert code == 2 and "--observed-from applies to trajectory runs" in err and not (tmp_path / "refused").exists()


def test_per_sample_parameters_are_held_and_drawn_again_for_the_solver(run_cli, tmp_path, monkeypatch):
    """Burgers with a viscosity per sample: its log-nu plane is held at the true values (not
    recovered as a field), and the solver check solves each test sample with its own viscosity,
    drawn again from its index (another index: another viscosity, another answer)."""
    from pdekit.eval.inverse import solve_inputs
    from pdekit.problems import get_problem

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    params = {"nt": 2, "t_final": 0.2, "nu": 0.05, "nu_max": 0.5, "solve_resolution": 32}
    data = {"problem": "burgers_1d", "params": params, "n_train": 24, "n_val": 3, "n_test": 3}
    out, result, arrays = _train_and_invert(run_cli, tmp_path, data, 5)
    assert "channels [1] held at their true values" in out
    assert result["channels"] == [0] and result["held_channels"] == [1]
    assert np.array_equal(arrays["recovered"][:, 1], arrays["true_inputs"][:, 1])
    problem = get_problem("burgers_1d").from_params(32, params)
    recovered = torch.from_numpy(arrays["recovered"])
    again = solve_inputs(problem, 0, 27, recovered, -1)  # the test samples are 27 .. 29
    assert np.allclose(again.numpy(), arrays["solver_outputs"], atol=1e-6)
    assert float(rel_l2(solve_inputs(problem, 0, 0, recovered, -1), again).min()) > 1e-3
    assert result["solver_baseline_rel_l2"] < 1e-5
    assert result["weights_epoch"] == 5 and result["training_finished"] is True
    # log nu recovered too: the solver would take the drawn nu, so there is no check (its misfit equalled the
    # baseline, drawn as "the solver on the recovered input"); the boxes are said per channel, in channel order
    code, out, err = run_cli("invert", str(tmp_path / "run"), "--samples", "3", "--steps", "2", "--quiet", "--recover",
                             "1", "0", "--bounds", "-3", "1", "--bounds", "-2", "2", "--out", str(tmp_path / "both"))
    assert code == 0, err
    both = json.loads((tmp_path / "both/inverse.json").read_text())
    assert "solver_output_rel_l2" not in both and "solver_outputs" not in np.load(tmp_path / "both/inverse.npz")
    assert both["solver_check"] == "the solver takes each sample's drawn nu, not recovered channel(s) 1"
    assert "  no solver check: the solver takes each sample's drawn nu" in out and out.count("no solver check") == 1
    assert both["channels"] == [0, 1] and both["bounds"] == [[-2.0, 2.0], [-3.0, 1.0]]


def test_pdekit_invert_recovers_a_trajectory_runs_initial_state(run_cli, tmp_path, monkeypatch):
    """A trajectory run (heat_1d, the initial state to the whole trajectory) is inverted for its
    initial state from a quarter of the space-time points: one slice recovered and repeated as the
    run reads it, the solver check solving from it (exact on the true states), and the plot drawn.
    A run reading several input steps is refused (it was every trajectory run)."""
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    data = {"problem": "heat_1d", "params": {"nt": 12, "nu": 0.02}, "n_train": 32, "n_val": 4, "n_test": 4,
            "trajectory": True}
    _, result, arrays = _train_and_invert(run_cli, tmp_path, data, 20, "--steps", "100")
    recovered = arrays["recovered"]
    assert recovered.shape == arrays["true_inputs"].shape == (3, 1, 12, 32)
    assert np.array_equal(recovered, np.broadcast_to(recovered[:, :, :1], recovered.shape))
    assert result["input_rel_l2"] < 0.15 and result["solver_output_rel_l2"] < 0.1  # measured 0.097, 0.067 (100 or 300 steps)
    assert result["solver_baseline_rel_l2"] < 1e-6
    assert arrays["solver_outputs"].shape == arrays["true_outputs"].shape == (3, 1, 12, 32)
    assert (tmp_path / "run/inverse/inverse.png").stat().st_size > 10000
    # data assimilation proper: the initial state is not observed itself, only the later times
    code, out, err = run_cli("invert", str(tmp_path / "run"), "--samples", "3", "--quiet", "--observed-from", "1",
                             "--steps", "100", "--out", str(tmp_path / "later"))
    assert code == 0 and "of the output points (stored times from index 1 on)" in out, err
    later, mask = json.loads((tmp_path / "later/inverse.json").read_text()), np.load(tmp_path / "later/inverse.npz")["mask"]
    assert not mask[:, :, 0].any() and mask[:, :, 1:].any(axis=(1, 2, 3)).all() and later["observed_from"] == 1
    assert later["input_rel_l2"] < 0.2 and later["solver_output_rel_l2"] < 0.1  # measured 0.148, 0.074 (100 or 300 steps)
    code, _, err = run_cli("invert", str(tmp_path / "run"), "--observed-from", "12", "--out", str(tmp_path / "x"))
    assert code == 2 and "--observed-from must lie in 0 .. 11, the run's stored times, got 12" in err


def test_a_2d_trajectory_inversion_is_plotted(tmp_path):
    """A 2D trajectory's inversion draws its initial state and the outputs at the last time (it
    drew nothing: only 1D trajectories were plotted)."""
    from pdekit.eval.inverse import plot_inversion

    g = torch.Generator().manual_seed(0)
    true = torch.randn(2, 1, 5, 8, 8, generator=g)
    arrays = {"true_inputs": true[:, :, :1].expand(-1, -1, 5, -1, -1), "true_outputs": true,
              "recovered": true[:, :, :1].expand(-1, -1, 5, -1, -1) + 0.1, "solver_outputs": true + 0.05,
              "observed": true, "mask": torch.rand(2, 1, 5, 8, 8, generator=g) < 0.3}
    path = tmp_path / "inverse.png"
    assert plot_inversion(arrays, str(path), ("w0", "vorticity"), trajectory=True)
    assert path.stat().st_size > 10000
