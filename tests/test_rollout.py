"""Autoregressive surrogates: windows of trajectories, the integrators of a derivative target,
the training modes of the rollout task, resume, and the rollout metrics."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from pdekit.data.trajectories import windows
from pdekit.errors import ConfigError, PdekitError
from pdekit.eval.rollout import correlation, correlation_time, geometric_mean, rollout_metrics, trajectory_rel_l2
from pdekit.train import fit
from pdekit.train.rollout import Autoregressive, RolloutConfig, RolloutTask

N = 64
X = torch.arange(N, dtype=torch.float64) / N


class SpectralAdvection(nn.Module):
    """The exact right-hand side of u_t + u_x = 0 on the periodic unit interval: -u_x, spectrally."""

    def forward(self, u):
        k = torch.fft.rfftfreq(u.shape[-1], 1.0 / u.shape[-1], dtype=u.dtype, device=u.device)
        return -torch.fft.irfft(2j * math.pi * k * torch.fft.rfft(u), n=u.shape[-1])


def _advected(u0, times):
    """Exact solutions u0(x - t) of a band-limited u0 given on the grid, by Fourier shift."""
    k = torch.fft.rfftfreq(N, 1.0 / N).double()
    spectrum = torch.fft.rfft(u0)
    return torch.stack([torch.fft.irfft(spectrum * torch.exp(-2j * math.pi * k * t), n=N) for t in times], dim=-2)


def test_windows_cut_every_trajectory_with_a_stride():
    u = torch.arange(2 * 7 * 1 * 3, dtype=torch.float32).view(2, 7, 1, 3)
    x, y = windows(u, k=2, m=3, stride=2)  # starts 0 and 2 of each trajectory
    assert x.shape == (4, 2, 1, 3) and y.shape == (4, 3, 1, 3)
    assert torch.equal(x[1], u[0, 2:4]) and torch.equal(y[1], u[0, 4:7]) and torch.equal(x[2], u[1, 0:2])


@pytest.mark.parametrize("integrator, order, dt", [("euler", 1, 0.002), ("rk2", 2, 0.004), ("rk4", 4, 0.01)])
def test_a_derivative_target_integrates_with_its_order(integrator, order, dt):
    """With the exact right-hand side as its network, the model's step is the integrator itself: the
    error of a rollout to t = 0.5 falls as dt^order (steps inside each scheme's stability limit for
    the grid's highest mode), and RK4's is small."""
    model = Autoregressive(SpectralAdvection(), channels=1, target="derivative", integrator=integrator, dt=0.05).double()
    u0 = torch.sin(2 * math.pi * X) + 0.1 * torch.cos(4 * math.pi * X)
    errors = []
    for h in (dt, dt / 2):
        pred = model.rollout(u0.view(1, 1, 1, N), round(0.5 / h), dt=h)[0, -1, 0]
        errors.append(float((pred - _advected(u0, [0.5])[0]).norm() / u0.norm()))
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.05), errors
    if integrator == "rk4":
        assert errors[0] < 2e-6  # measured 1.4e-6


class Square(nn.Module):
    """The right-hand side u' = u^2: nonlinear, so that Heun's RK2 and the midpoint rule differ."""

    def forward(self, u):
        return u * u


def test_rk2_is_heuns_method():
    """On a linear right-hand side every two-stage second-order scheme gives the same step, so the
    order test above cannot tell Heun's (documented) from the midpoint rule: u' = u^2 does.
    From u = 1, h = 0.5: Heun 1 + h/2 (1 + (1 + h)^2) = 1.8125, midpoint 1 + h (1 + h/2)^2 = 1.78125."""
    model = Autoregressive(Square(), channels=1, target="derivative", integrator="rk2", dt=0.5).double()
    step = model.step(torch.ones(1, 1, 1, 4, dtype=torch.float64))
    assert torch.allclose(step, torch.full_like(step, 1.8125), rtol=0, atol=1e-15)


def _advection_windows(n, seed):
    """Random band-limited fields advected by 0.05 per step: 1 input step, 4 target steps."""
    g = torch.Generator().manual_seed(seed)
    coeff = torch.randn(n, 2, 4, generator=g, dtype=torch.float64)
    k = torch.arange(1, 5, dtype=torch.float64)
    u0 = (coeff[:, 0, :, None] * torch.sin(2 * math.pi * k[:, None] * X)
          + coeff[:, 1, :, None] * torch.cos(2 * math.pi * k[:, None] * X)).sum(1)
    u = torch.stack([_advected(v, [0.05 * s for s in range(5)]) for v in u0])[:, :, None].float()
    return windows(u, k=1, m=4)


def _circular_net():
    torch.manual_seed(0)
    return nn.Conv1d(1, 1, 9, padding=4, padding_mode="circular", bias=False)


def test_a_learned_derivative_rolls_out_with_another_time_step():
    """A stencil trained (unrolled over 4 steps) as the time derivative of advection data follows
    the exact solution when rolled out with half the training step too."""
    train, val = _advection_windows(64, 0), _advection_windows(8, 1)
    model = Autoregressive(_circular_net(), channels=1, target="derivative", integrator="rk4", dt=0.05)
    fit(model, RolloutTask(train, val), quiet=True, epochs=150, lr=3e-2, batch_size=16, mode="unrolled", unroll=4)
    x, y = val
    with torch.no_grad():
        half = model.rollout(x, 8, dt=0.025)[:, 1::2]  # every second half step lands on the stored times
        full = model.rollout(x, 4)
    # measured 0.013 and 0.031; a step that ignored dt would land at t = 0.4, an O(1) error
    assert trajectory_rel_l2(full, y) < 0.02 and trajectory_rel_l2(half, y) < 0.05, (
        trajectory_rel_l2(full, y), trajectory_rel_l2(half, y))
    with pytest.raises(Exception, match="target=derivative"):
        Autoregressive(_circular_net(), channels=1, dt=0.05).rollout(x, 2, dt=0.025)


class Recorder(nn.Module):
    """A network that notes whether each call builds a graph."""

    def __init__(self):
        super().__init__()
        self.conv = _circular_net()
        self.graphs = []

    def forward(self, z):
        self.graphs.append(torch.is_grad_enabled())
        return self.conv(z)


@pytest.mark.parametrize("mode, calls_with_graph", [("pushforward", [False, False, True]), ("unrolled", [True] * 3),
                                                    ("one_step", [True])])
def test_pushforward_trains_only_the_last_step(mode, calls_with_graph):
    train = _advection_windows(4, 0)
    net = Recorder()
    model = Autoregressive(net, channels=1, dt=0.05)
    task = RolloutTask(train, train, RolloutConfig(mode=mode, unroll=1 if mode == "one_step" else 3))
    loss, _ = task.loss(model, (train[0], train[1], task.config.unroll, None), 0)
    assert net.graphs == calls_with_graph
    if mode == "pushforward":  # the loss is the error of the third step, from the model's own second
        with torch.no_grad():
            third = model.rollout(train[0], 3)[:, 2]
        expected = (third - train[1][:, 2]).flatten(1).norm(dim=1) / train[1][:, 2].flatten(1).norm(dim=1)
        assert float(loss) == pytest.approx(float(expected.mean()), rel=1e-6)
    loss.backward()
    assert net.conv.weight.grad.abs().sum() > 0


def test_lbfgs_after_pushforward_unrolls_the_whole_horizon():
    """L-BFGS line-searches the loss it is given the gradient of: the L-BFGS batch of a pushforward
    run is unrolled with the gradient through every step (its last step alone from detached inputs
    gave a gradient 0.08 where the loss changed at 0.22 along it)."""
    from pdekit.train import make_train_config

    train = _advection_windows(4, 0)
    cfg, task_cfg = make_train_config(RolloutTask, {"epochs": 2, "batch_size": 4, "mode": "pushforward", "unroll": 3,
                                                    "lbfgs_steps": 5})
    task = RolloutTask(train, train, task_cfg)
    net = Recorder()
    model = Autoregressive(net, channels=1, dt=0.05)
    task.setup(model, cfg, torch.device("cpu"))
    batch = next(iter(task.batches(3, torch.float32)))  # the epoch after Adam's last: L-BFGS's batch
    assert batch[2:] == (3, None, "unrolled")
    noisy = RolloutTask(train, train, make_train_config(RolloutTask, {"epochs": 2, "batch_size": 4, "noise": 0.1,
                                                                       "lbfgs_steps": 5})[1])
    noisy.setup(model, make_train_config(RolloutTask, {"epochs": 2, "batch_size": 4, "lbfgs_steps": 5})[0],
                torch.device("cpu"))
    clean = next(iter(noisy.batches(3, torch.float32)))[0]  # no single draw of noise to fit
    assert torch.equal(clean.sort(dim=0).values, train[0].sort(dim=0).values)
    task.loss(model, batch, 0)
    assert net.graphs == [True, True, True]


def test_a_model_reading_several_states_rolls_out_with_its_own_step_only():
    """History 2 with another dt fed the network states 2 dt' apart as if dt apart (rollout error
    0.87 instead of 0.003 on advection): refused; history 1 takes another dt."""
    states = torch.randn(2, 2, 1, 16)
    two = Autoregressive(nn.Conv1d(2, 1, 3, padding=1), channels=1, history=2, target="derivative", dt=0.05)
    assert two.rollout(states, 3, dt=0.05).shape == (2, 3, 1, 16)
    with pytest.raises(PdekitError, match="reads 2 states 0.05 apart, as it was trained: it rolls out with that step"):
        two.rollout(states, 3, dt=0.025)
    one = Autoregressive(_circular_net(), channels=1, target="derivative", dt=0.05)
    assert one.rollout(states[:, :1], 3, dt=0.025).shape == (2, 3, 1, 16)


def test_a_constant_channel_is_normalized_by_its_size():
    """A channel constant in the training windows had a deviation of 1e-12: a state 1% off it read
    1e10 to the network; now it is scaled by its size, as the operator's normalizers do."""
    x, y = _advection_windows(8, 0)
    x, y = torch.cat([x, torch.full_like(x, 2.0)], dim=2), torch.cat([y, torch.full_like(y, 2.0)], dim=2)
    task = RolloutTask((x, y), (x, y), RolloutConfig())
    model = Autoregressive(nn.Conv1d(2, 2, 3, padding=1), channels=2, dt=0.05)
    from pdekit.train import make_train_config

    task.setup(model, make_train_config(RolloutTask, {"epochs": 1})[0], torch.device("cpu"))
    assert float(model.std[1]) == 2.0 and float(model.mean[1]) == 2.0 and 0.1 < float(model.std[0]) < 10


def test_a_run_folder_of_another_target_or_step_is_not_reused(tmp_path):
    """fit recognised a rollout run by its network's shape: a derivative model got a state model's
    finished weights from the same folder, silently."""
    train, val = _advection_windows(8, 0), _advection_windows(4, 1)
    run = str(tmp_path / "run")
    options = {"epochs": 2, "batch_size": 8, "quiet": True}
    fit(Autoregressive(_circular_net(), channels=1, dt=0.05), RolloutTask(train, val), run_dir=run, **options)
    again = fit(Autoregressive(_circular_net(), channels=1, dt=0.05), RolloutTask(train, val), run_dir=run, **options)
    assert again.stop_reason.startswith("Adam finished")  # the same model: its finished run
    for other in (Autoregressive(_circular_net(), channels=1, dt=0.05, target="derivative"),
                  Autoregressive(_circular_net(), channels=1, dt=0.1)):
        with pytest.raises(PdekitError, match="holds a run of another recipe or config \\(rollout: "):
            fit(other, RolloutTask(train, val), run_dir=run, **options)
    # which conditioning scalars are logarithms is part of it too (the count alone was)
    logs = [Autoregressive(_circular_net(), channels=1, dt=0.05, cond_log=flags).configuration()
            for flags in ((True,), (False,))]
    assert logs[0] != logs[1]


def test_the_first_lbfgs_chunk_stays_inside_the_time_budget(monkeypatch):
    """Each call of the network takes one (fake) second and rows come every 200 L-BFGS iterations:
    the first chunk ran all 200 before the budget was looked at (62 s for a 30 s budget); one
    iteration is now timed first, and the run ends within a short chunk of the budget."""
    from pdekit.train import trainer

    now = [0.0]
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: now[0])

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = _circular_net()

        def forward(self, z):
            now[0] += 1.0
            return self.conv(z)

    train = _advection_windows(4, 0)
    trained = fit(Autoregressive(Slow(), channels=1, dt=0.05), RolloutTask(train, train), quiet=True, epochs=2,
                  batch_size=4, lbfgs_steps=200, log_every=200, max_seconds=30)
    assert "time budget of 30 s reached" in trained.stop_reason, trained.stop_reason
    assert 30 <= trained.seconds < 36, trained.seconds
    assert [row["epoch"] for row in trained.history][:2] == [2, 3]  # the timed iteration's row


def test_a_resumed_rollout_training_ends_with_the_same_weights(tmp_path):
    """Noise, the curriculum and the symmetry augmentation come from the epoch's seeded generator: a
    run interrupted after its third epoch and resumed ends bitwise equal to an uninterrupted one."""
    from pdekit.train import Trainer, make_train_config

    train, val = _advection_windows(16, 0), _advection_windows(4, 1)
    options = {"epochs": 6, "lr": 1e-2, "batch_size": 8, "mode": "pushforward", "unroll": 3, "noise": 0.01,
               "curriculum": True, "augment": True, "augment_boost": 0.1}

    def run(folder, stop_after=None):
        cfg, task_cfg = make_train_config(RolloutTask, options)
        # dropout draws from torch's global generator: the checkpoint must restore it too
        model = Autoregressive(nn.Sequential(_circular_net(), nn.Dropout(0.2)), channels=1, dt=0.05)

        def interrupt(trainer, row):
            if row["epoch"] == stop_after:
                raise KeyboardInterrupt

        Trainer(model, RolloutTask(train, val, task_cfg, period=1.0), cfg, str(tmp_path / folder), quiet=True,
                callbacks=[interrupt]).fit()
        return model

    full = run("full")
    with pytest.raises(KeyboardInterrupt):
        run("resumed", stop_after=3)
    resumed = run("resumed")
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))


def test_the_curriculum_grows_the_horizon_and_noise_is_scaled_per_channel():
    """unroll = 3 over 9 epochs: horizons 1, 1, 1, 2, 2, 2, 3, 3, 3 (1 + (epoch - 1) * unroll // epochs);
    noise 0.1 perturbs the inputs only, by 0.1 times each channel's standard deviation."""
    from pdekit.train import make_train_config

    train, val = _advection_windows(64, 0), _advection_windows(4, 1)
    train = (torch.cat([train[0], 10 * train[0]], dim=2), torch.cat([train[1], 10 * train[1]], dim=2))  # stds x, 10 x
    val = (torch.cat([val[0], val[0]], dim=2), torch.cat([val[1], val[1]], dim=2))

    def task(**options):
        cfg, task_cfg = make_train_config(RolloutTask, {"epochs": 9, "batch_size": 64, "mode": "unrolled", **options})
        t = RolloutTask(train, val, task_cfg)
        model = Autoregressive(nn.Conv1d(2, 2, 3, padding=1, padding_mode="circular"), channels=2, dt=0.05)
        t.setup(model, cfg, torch.device("cpu"))
        return t, model

    curriculum, _ = task(unroll=3, curriculum=True)
    assert [next(iter(curriculum.batches(e, torch.float32)))[2] for e in range(1, 10)] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert next(iter(curriculum.batches(10, torch.float32)))[2] == 3  # the L-BFGS batch: the whole horizon
    # fewer epochs than steps never reached the horizon (4 over 3 epochs: 1, 2, 3): refused
    with pytest.raises(ConfigError, match="it needs at least that many \\(train.epochs = 3\\)"):
        task(unroll=4, curriculum=True, epochs=3)
    clean, model = task(unroll=1)
    noisy, _ = task(unroll=1, noise=0.1)
    (x0, y0, *_), (x1, y1, *_) = next(iter(clean.batches(1, torch.float32))), next(iter(noisy.batches(1, torch.float32)))
    assert torch.equal(y0, y1)
    ratio = (x1 - x0).transpose(0, 2).flatten(1).std(dim=1) / (0.1 * model.std.float())
    assert torch.allclose(ratio, torch.ones(2), atol=0.05), ratio


def test_per_step_metrics_average_over_trajectories_at_each_step():
    """Three trajectories of five steps, two channels of scales 1 and 100: rollout_rel_l2 pools the
    channels per sample and step, rollout_nrmse averages the channels' nRMSE; both then average the
    samples, step by step (numpy formulas, docs/metrics.md)."""
    g = torch.Generator().manual_seed(0)
    true = torch.randn(3, 5, 2, 16, generator=g, dtype=torch.float64) * torch.tensor([1.0, 100.0])[:, None]
    pred = true + 0.1 * torch.randn(3, 5, 2, 16, generator=g, dtype=torch.float64) * torch.arange(1, 6)[:, None, None]
    p, q = pred.numpy(), true.numpy()
    rel = np.linalg.norm((p - q).reshape(3, 5, -1), axis=-1) / np.linalg.norm(q.reshape(3, 5, -1), axis=-1)
    nrmse = (np.sqrt(((p - q) ** 2).mean(-1)) / np.sqrt((q**2).mean(-1))).mean(-1)  # (samples, steps)
    out = rollout_metrics(pred, true, np.arange(1, 6))
    assert np.allclose(out["rollout_rel_l2"], rel.mean(0), rtol=1e-12)
    assert np.allclose(out["rollout_nrmse"], nrmse.mean(0), rtol=1e-12)
    assert not np.allclose(out["rollout_rel_l2"], out["rollout_nrmse"], rtol=0.1)  # the scales tell them apart


def test_correlation_time_and_the_aggregates_are_exact_on_a_synthetic_signal():
    """The prediction turns away from the truth by 0.1 rad per step: its Pearson correlation is
    cos(0.1 s), below 0.8 first at s = 7 (cos 0.7 = 0.765), at time 0.25 * 8 = 2."""
    x = 2 * math.pi * X
    steps = 12
    theta = 0.1 * torch.arange(steps, dtype=torch.float64)
    true = torch.sin(x).expand(1, steps, 1, N)
    pred = (torch.cos(theta)[:, None] * torch.sin(x) + torch.sin(theta)[:, None] * torch.cos(x)).view(1, steps, 1, N)
    t = 0.25 * np.arange(1, steps + 1)
    assert correlation_time(pred, true, t) == 2.0
    assert correlation_time(true, true, t) is None
    assert geometric_mean([1.0, math.e, math.e**2], first=3) == pytest.approx(math.e)
    assert geometric_mean([1.0] * 99) is None
    assert geometric_mean([1.0] * 100 + [10.0] * 50) == 1.0  # the first 100 steps only
    assert geometric_mean([0.0] + [1.0] * 99) == 0.0 and math.isnan(geometric_mean([math.nan] + [1.0] * 99))
    out = rollout_metrics(pred, true, t)
    # |e^{i theta} - 1| = 2 sin(theta / 2) per step; over the whole trajectory the root mean square
    expected = math.sqrt(sum((2 * math.sin(0.05 * s)) ** 2 for s in range(steps)) / steps)
    assert out["trajectory_rel_l2"] == pytest.approx(expected, rel=1e-9)
    assert out["rollout_rel_l2"][3] == pytest.approx(2 * math.sin(0.15), rel=1e-9)
    assert len(out["rollout_nrmse"]) == steps and out["rollout_gmean100"] is None


def test_correlation_counts_a_blown_up_prediction_as_lost_skips_a_constant_truth_and_works_per_channel():
    x = 2 * math.pi * X
    t = np.arange(1.0, 7.0)
    true = torch.stack([torch.sin(x + 0.3 * k) for k in range(3)])[:, None, None].expand(3, 6, 1, N).clone()
    pred = true.clone()
    pred[0, 3:] = math.nan  # one of three trajectories blows up at step 4: mean correlation 2/3 from there
    assert correlation(pred, true).tolist() == pytest.approx([1.0] * 3 + [2 / 3] * 3, abs=1e-12)
    assert correlation_time(pred, true, t) == 4.0
    pred[0, 3:] = math.inf
    assert correlation_time(pred, true, t) == 4.0
    # a truth constant over the grid (here 0.1, whose mean is not exactly 0.1 in floating point) has no
    # correlation: that trajectory is left out, not scored 0 (which would halve the mean)
    flat = true.clone()
    flat[1] = 0.1
    assert correlation(flat, flat).tolist() == pytest.approx([1.0] * 6, abs=1e-12)
    assert correlation_time(flat, flat, t) is None
    assert torch.isnan(correlation(flat[1:2], flat[1:2])).all()
    # two channels with means 0 and 10: a prediction of noise at the right means is uncorrelated,
    # not 0.96 as one correlation over both channels at once made it
    g = torch.Generator().manual_seed(0)
    two = torch.stack([torch.sin(x), 10 + torch.sin(2 * x)])[None, None].expand(2, 6, 2, N)
    noise = torch.randn(2, 6, 2, N, generator=g, dtype=torch.float64) + torch.tensor([0.0, 10.0])[:, None]
    assert correlation(noise, two).abs().max() < 0.35 and correlation_time(noise, two, t) == 1.0
    assert correlation(two.clone(), two).tolist() == pytest.approx([1.0] * 6, abs=1e-12)


def test_a_model_that_raises_past_the_test_horizon_is_reported_unstable_not_crashed():
    """Like an adaptive ODE solver whose step underflows on a grown state: the network grows the state
    by 1.5 per step and raises on inputs above 7, which the 5 scored steps never give it (1.5^4)."""
    from pdekit.eval.rollout_report import evaluate_rollout

    class Growing(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(1.5))

        def forward(self, z):
            if float(z.abs().max()) > 7.0:
                raise AssertionError("underflow in dt")
            return self.scale * z

    model = Autoregressive(Growing(), channels=1)
    u = (1.5 ** torch.arange(6.0))[None, :, None, None] * torch.sin(2 * math.pi * X.float())[None, None, None]
    metrics, pred, true, _ = evaluate_rollout(model, u.expand(2, -1, -1, -1), np.arange(6.0), history=1, steps=5,
                                              stability_steps=50)
    assert metrics["trajectory_rel_l2"] < 1e-6 and not metrics["stable"] and metrics["blow_up_step"] == 6
    assert metrics["blow_up_reason"] == "the model raised AssertionError: underflow in dt"


def test_pdekit_run_ks_rollout_writes_the_output_contract_and_evaluates_again(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["data.n_train=8", "data.n_test=4", "train.epochs=2", "model.hidden_channels=8", "eval.timing_rounds=1"]
    code, out, err = run_cli("run", "ks_rollout", "--quick", "--quiet", "--out", "run", *small)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert len(metrics["rollout_rel_l2"]) == len(metrics["rollout_nrmse"]) == 100
    assert {"trajectory_rel_l2", "rollout_gmean100", "correlation_time", "stable"} <= set(metrics)
    assert metrics["rollout_gmean100"] is not None and metrics["stability_steps"] == 1000
    assert metrics["mass_drift_truth"] < 1e-6 < metrics["mass_drift"]  # KS conserves the mean; a 2-epoch model not
    saved = np.load(tmp_path / "run/rollout.npz")
    assert saved["pred"].shape == saved["true"].shape == (4, 100, 1, 64)
    np.testing.assert_allclose(saved["t"], 0.2 * np.arange(1, 101), rtol=1e-12)
    assert trajectory_rel_l2(torch.from_numpy(saved["pred"]), torch.from_numpy(saved["true"])) == pytest.approx(
        metrics["trajectory_rel_l2"], rel=1e-6)
    assert "trajectory relative L2" in out and (tmp_path / "run/plots/rollout.png").exists()
    # the solver, started from the same stored states, at the data's setting reproduces the truth
    ladder = metrics["solver_ladder"]
    assert ladder[0]["solve_resolution"] == 128 and ladder[0]["rel_l2"] < 1e-5 and "speed_verdict" in metrics
    code, out, err = run_cli("eval", "run", "--json", "again.json", "--device", "auto")
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["rollout_rel_l2"] == metrics["rollout_rel_l2"]


def test_pushforward_draws_its_horizon_per_batch_from_one_to_unroll():
    """The pushforward trick trains the last of 1..unroll steps, drawn per batch from the epoch's
    seeded generator (so the model also learns the first step from true states)."""
    from pdekit.train import make_train_config

    train = _advection_windows(32, 0)
    cfg, task_cfg = make_train_config(RolloutTask, {"batch_size": 1, "mode": "pushforward", "unroll": 3})
    task = RolloutTask(train, train, task_cfg)
    task.setup(Autoregressive(_circular_net(), channels=1, dt=0.05), cfg, torch.device("cpu"))
    drawn = [batch[2] for batch in task.batches(1, torch.float32)]
    assert set(drawn) == {1, 2, 3} and drawn == [batch[2] for batch in task.batches(1, torch.float32)]


def test_a_rollout_recipe_trains_on_a_pdebench_file(tmp_path):
    """Trajectories of a foreign file (here a PDEBench tensor file converted from pdekit data) train
    and test a rollout recipe: its times set the model's step, and there is no solver to compare."""
    from pdekit.data.formats import convert
    from pdekit.data.generate import generate
    from pdekit.pipeline import run_recipe
    from pdekit.problems import get_problem
    from pdekit.recipes import load_recipe

    params = {"solve_resolution": 32, "nt": 11, "t_final": 2.0, "spinup": 5.0, "dt": 0.1}
    problem = get_problem("kuramoto_sivashinsky_1d").from_params(16, params)
    generate(problem, 14, 0, str(tmp_path / "ks.h5"), quiet=True)
    convert(str(tmp_path / "ks.h5"), str(tmp_path / "ks_pdebench.h5"), "pdebench-tensor")
    recipe = load_recipe({"name": "file_rollout", "kind": "rollout",
                          "data": {"file": str(tmp_path / "ks_pdebench.h5"), "n_train": 8, "n_val": 2, "n_test": 4},
                          "model": {"name": "fno", "modes": 4, "hidden_channels": 8, "n_layers": 2},
                          "rollout": {"history": 1, "steps": 2}, "train": {"epochs": 2, "batch_size": 16}})
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    saved = np.load(tmp_path / "run/rollout.npz")
    assert saved["pred"].shape == (4, 10, 1, 16) and metrics["dt"] == pytest.approx(0.2)
    np.testing.assert_allclose(saved["t"], 0.2 * np.arange(1, 11), rtol=1e-6)
    assert "solver_ladder" not in metrics and "mass_drift" not in metrics and len(metrics["rollout_rel_l2"]) == 10
    # the grid the run trained on is recorded; a run of a file without it trained on nodes
    from pdekit.pipeline import RolloutRunner
    from pdekit.train.checkpoint import load_checkpoint

    assert load_checkpoint(str(tmp_path / "run/checkpoint.pt"))["grid"] == "nodes"
    raw = json.loads(recipe.to_json())
    periodic = load_recipe({**raw, "data": {**raw["data"], "grid": "periodic"}})
    assert RolloutRunner._model(periodic, 1, 1, 0.2).net.grid == "periodic"
    assert RolloutRunner._model(periodic, 1, 1, 0.2, state={"grid_revision": 3}).net.grid == "nodes"
    assert RolloutRunner._model(recipe, 1, 1, 0.2, state={"grid": "periodic", "grid_revision": 3}).net.grid == "periodic"
    # the file rewritten with other trajectories: the run is not scored on its "test" split
    from pdekit.errors import DataFileError
    from pdekit.pipeline import evaluate_run

    assert evaluate_run(str(tmp_path / "run"))["rollout_rel_l2"] == metrics["rollout_rel_l2"]
    generate(problem, 14, 1, str(tmp_path / "ks1.h5"), quiet=True)
    (tmp_path / "ks_pdebench.h5").unlink()
    convert(str(tmp_path / "ks1.h5"), str(tmp_path / "ks_pdebench.h5"), "pdebench-tensor")
    with pytest.raises(DataFileError, match="was trained on other data than"):
        evaluate_run(str(tmp_path / "run"))


def _decay_windows(n, seed):
    """Band-limited fields decaying as exp(-a t) with each trajectory's own rate a, log-uniform in
    [0.5, 5], stored every 0.1: windows of 1 input and 2 target steps, with a as the condition."""
    g = torch.Generator().manual_seed(seed)
    rate = 0.5 * 10 ** torch.rand(n, generator=g, dtype=torch.float64)
    u0 = (torch.randn(n, 3, 1, generator=g, dtype=torch.float64)
          * torch.sin(2 * math.pi * torch.arange(1, 4, dtype=torch.float64)[:, None] * X)).sum(1)
    t = 0.1 * torch.arange(3, dtype=torch.float64)
    u = (torch.exp(-rate[:, None, None] * t[:, None]) * u0[:, None])[:, :, None].float()
    x, y = windows(u, k=1, m=2)
    return x, y, rate[:, None]


class Probe(nn.Module):
    """Records what the model hands its network; returns the first input channel."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, z, cond=None):
        self.seen.append((z.detach(), None if cond is None else cond.detach()))
        return z[:, :1] + self.weight


@pytest.mark.parametrize("conditioning", ["channels", "embedding"])
def test_the_condition_reaches_the_network_normalized(conditioning):
    """The task sets the condition's normalization from the training windows (of log a, the model
    taking logarithms); the network sees (log a - mean) / std as constant channels or as its
    embedding's input, and a model without conditioning refuses a cond and vice versa."""
    from pdekit.train import make_train_config

    train, val = _decay_windows(16, 0), _decay_windows(4, 1)
    probe = Probe()
    model = Autoregressive(probe, channels=1, dt=0.1, cond_log=(True,), conditioning=conditioning)
    cfg, task_cfg = make_train_config(RolloutTask, {"batch_size": 4})
    RolloutTask(train, val, task_cfg).setup(model, cfg, torch.device("cpu"))
    logs = train[2].log()
    assert float(model.cond_mean) == pytest.approx(float(logs.mean()), rel=1e-6)  # float32 buffers
    assert float(model.cond_std) == pytest.approx(float(logs.std()), rel=1e-6)
    model.step(val[0], cond=val[2])
    z, cond = probe.seen[-1]
    expected = ((val[2].log() - logs.mean()) / logs.std()).float()
    if conditioning == "channels":
        assert z.shape == (4, 2, N) and cond is None
        torch.testing.assert_close(z[:, 1], expected.expand(4, N), rtol=1e-6, atol=1e-6)
    else:
        assert z.shape == (4, 1, N)
        torch.testing.assert_close(cond, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(Exception, match="pass cond shaped"):
        model.step(val[0])
    with pytest.raises(Exception, match="without conditioning"):
        Autoregressive(Probe(), channels=1, dt=0.1).step(val[0], cond=val[2])
    with pytest.raises(Exception, match="windows carry 1"):
        RolloutTask(train, val, task_cfg).setup(Autoregressive(Probe(), channels=1, dt=0.1), cfg, torch.device("cpu"))


def test_a_conditioned_model_learns_what_the_unconditioned_one_cannot():
    """Each trajectory decays at its own rate: a pointwise network that sees log a learns the step
    (measured 0.0056), one that does not is left with the spread of the rates (measured 0.11)."""
    train, val = _decay_windows(64, 0), _decay_windows(16, 1)
    errors = {}
    for conditioned in (True, False):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv1d(2 if conditioned else 1, 64, 1), nn.GELU(), nn.Conv1d(64, 1, 1))
        model = Autoregressive(net, channels=1, dt=0.1, cond_log=(True,) if conditioned else ())
        data = (train, val) if conditioned else (train[:2], val[:2])
        history = fit(model, RolloutTask(*data), quiet=True, epochs=300, lr=1e-2, batch_size=64).history
        errors[conditioned] = history[-1]["val_rollout_rel_l2"]
    assert errors[True] < 0.01 and errors[False] > 0.07, errors


def test_every_grid_model_of_the_registry_is_accepted_by_a_rollout_recipe():
    """The recipe check builds the network without the data's grid (the run passes it): models that
    take a grid (mgno, t1) were refused with "grid must be 'nodes' or 'periodic', got None"."""
    from pdekit.models.registry import MODELS
    from pdekit.recipes import load_recipe

    for name in sorted(n for n, cls in MODELS.items() if not getattr(cls, "pointwise", False)):
        load_recipe({"name": "any", "kind": "rollout", "model": {"name": name}, "rollout": {"history": 1, "steps": 2},
                     "data": {"problem": "burgers_1d", "resolution": 32, "n_train": 4,
                              "params": {"nt": 6, "solve_resolution": 64}}})


def test_empty_windows_and_an_empty_batch_are_refused_in_one_line():
    """Validation windows of no trajectories (u[400:] of a file of 400) trained an epoch, then failed
    in torch.cat; an empty batch of states failed inside the FFT."""
    u = torch.randn(4, 3, 1, 16)
    train, empty = windows(u, k=1, m=2), windows(u[4:], k=1, m=2)
    assert len(empty[0]) == 0
    with pytest.raises(PdekitError, match="rollout: val_windows holds no windows"):
        RolloutTask(train, empty)
    model = Autoregressive(_circular_net(), channels=1, dt=0.05)
    with pytest.raises(PdekitError, match=r"with batch >= 1, got \(0, 1, 1, 16\)"):
        model.rollout(u[:0, :1], 5)
