"""Metrics: each reported number follows its formula in docs/metrics.md."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pdekit.eval import metrics


def _pairs(ndim, seed=0):
    """Random truths and predictions whose per-sample error scales differ by five orders of magnitude."""
    gen = torch.Generator().manual_seed(seed)
    shape = (4, 3, *(20,) * ndim)
    true = torch.randn(shape, generator=gen, dtype=torch.float64)
    scale = torch.tensor([1e-3, 1e-1, 1.0, 1e2], dtype=torch.float64).reshape(-1, *[1] * (ndim + 1))
    return true + scale * torch.randn(shape, generator=gen, dtype=torch.float64), true


@pytest.mark.parametrize("ndim", [1, 2])
def test_frmse_band_squares_add_up_to_the_rmse_square(ndim):
    results = metrics.summary(*_pairs(ndim))
    bands = sum(results[f"frmse_{name}"] ** 2 for name in metrics.BANDS)
    assert bands == pytest.approx(results["rmse"] ** 2, rel=1e-12, abs=0)


@pytest.mark.parametrize("ndim", [1, 2])
def test_summary_follows_the_documented_formulas(ndim):
    pred, true = (t.numpy() for t in _pairs(ndim, seed=1))
    err = pred - true
    per_sample = err.reshape(len(err), -1)
    rel = np.linalg.norm(per_sample, axis=1) / np.linalg.norm(true.reshape(len(true), -1), axis=1)
    space = tuple(range(2, err.ndim))
    nrmse = np.sqrt((err**2).mean(space)) / np.sqrt((true**2).mean(space))  # (samples, channels)
    expected = {
        "rel_l2": rel.mean(),
        "median_rel_l2": np.sort(rel)[(len(rel) - 1) // 2],  # the lower middle value
        "rmse": np.sqrt((err**2).mean()),
        "nrmse": nrmse.mean(),
        "max_error": np.abs(err).max(),
    }
    results = metrics.summary(torch.from_numpy(pred), torch.from_numpy(true))
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.parametrize("k, band", [(3, "low"), (4, "mid"), (11, "mid"), (12, "high")])
def test_a_single_wavenumber_error_lands_in_its_band(k, band):
    x = torch.arange(64, dtype=torch.float64) / 64
    err = torch.cos(2 * math.pi * k * x)[None, None]  # mean square 1/2
    bands = metrics.frequency_rmse(err, torch.zeros_like(err))
    for name, value in bands.items():
        assert value == pytest.approx(math.sqrt(0.5) if name == band else 0, rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("kx, ky, band", [(3, 0, "low"), (2, 3, "low"), (3, 3, "mid"), (0, 4, "mid"), (8, 8, "mid"),
                                          (9, 8, "high"), (11, 0, "mid"), (12, 0, "high")])
def test_a_single_2d_mode_lands_in_the_band_of_its_radius(kx, ky, band):
    """The bands are shells of the Euclidean |k|: (3, 3) (|k| = 4.2) is mid and (9, 8) (12.04) high,
    where the largest component alone would call them low and mid."""
    axis = torch.arange(32, dtype=torch.float64) / 32
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    err = torch.cos(2 * math.pi * (kx * x + ky * y))[None, None]  # mean square 1/2
    bands = metrics.frequency_rmse(err, torch.zeros_like(err))
    for name, value in bands.items():
        assert value == pytest.approx(math.sqrt(0.5) if name == band else 0, rel=1e-12, abs=1e-12), name


def test_every_reported_metric_is_documented():
    doc = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text()
    keys = set(metrics.summary(*_pairs(1))) - {"rel_l2"} | {"test_rel_l2"}  # evaluate renames rel_l2
    assert not [key for key in keys if f"`{key}`" not in doc]


@pytest.mark.parametrize("input_steps, input_time", [(1, 0), (1, 5), (3, 0)])
def test_space_time_targets_get_pdebench_s_nrmse_per_predicted_step(input_steps, input_time):
    """With data.trajectory the target is (n, c, nt, *space). The relative L2 stays per sample over
    the whole trajectory (FNO, PINO); nRMSE is PDEBench's: per sample, channel and predicted time
    step over space, then the mean, the input frame left out (it was pooled over space-time with
    the input frame scored as a prediction: 0.030 where PDEBench gives 0.105 here)."""
    from types import SimpleNamespace

    from pdekit.eval.evaluate import _summary

    gen = np.random.default_rng(0)
    nt = 11 if input_steps == 1 else 8  # with several input slices the target holds the later times only
    decay = np.exp(-0.5 * np.arange(nt))[None, None, :, None]
    true = (1 + gen.standard_normal((4, 2, 1, 32))) * decay
    pred = true + 0.01 * gen.standard_normal(true.shape)
    if input_steps == 1:
        pred[:, :, input_time] = true[:, :, input_time]  # the input frame: reproduced exactly
    data = SimpleNamespace(trajectory=True, input_steps=input_steps, input_time=input_time)
    out = _summary(torch.from_numpy(pred), torch.from_numpy(true), data)
    steps = [t for t in range(nt) if t != input_time] if input_steps == 1 else slice(None)
    e, t = (pred - true)[:, :, steps], true[:, :, steps]
    pdebench = np.mean(np.sqrt((e**2).mean(-1)) / np.sqrt((t**2).mean(-1)))
    whole = np.mean(np.linalg.norm((pred - true).reshape(4, -1), axis=1) / np.linalg.norm(true.reshape(4, -1), axis=1))
    assert out["nrmse"] == pytest.approx(pdebench, rel=1e-12) and out["rel_l2"] == pytest.approx(whole, rel=1e-12)
    assert out["rmse"] == pytest.approx(np.sqrt((e**2).mean()), rel=1e-12)
    assert out["rmse"] ** 2 == pytest.approx(sum(out[f"frmse_{b}"] ** 2 for b in ("low", "mid", "high")), rel=1e-9)


def test_nrmse_leaves_out_a_channel_whose_truth_is_zero():
    """A zero truth channel has no relative error: it gave 5e23 through the clamped denominator."""
    true = torch.stack([torch.zeros(2, 16), torch.linspace(1, 2, 32).view(2, 16)], dim=1).double()
    pred = true + 1e-6
    expected = float((1e-6 / true[:, 1].pow(2).mean(-1).sqrt()).mean())
    assert metrics.summary(pred, true)["nrmse"] == pytest.approx(expected, rel=1e-9)
    assert math.isnan(float(metrics.nrmse(pred[:, :1], true[:, :1])[0]))  # nothing defined: NaN, not 1e24


def test_a_diverged_prediction_is_never_left_out_of_a_mean():
    """nanmean, there to leave out channels whose truth is zero, also left out NaN predictions: one
    trajectory NaN from step 2 gave finite per-step errors, and one NaN sample a finite nRMSE."""
    from pdekit.eval.rollout import rollout_nrmse, rollout_rel_l2

    torch.manual_seed(0)
    true = torch.randn(4, 5, 2, 16, dtype=torch.float64)
    pred = true + 0.01 * torch.randn_like(true)
    pred[1, 2:, 0] = float("nan")
    for per_step in (rollout_rel_l2(pred, true), rollout_nrmse(pred, true)):
        assert torch.isfinite(per_step[:2]).all() and torch.isnan(per_step[2:]).all()
    assert math.isnan(metrics.summary(pred[:, 3], true[:, 3])["nrmse"])
    # a step without any truth (no relative error) is still left out, and a zero channel beside a live one
    true[0, :, :] = 0.0
    true[2, :, 1] = 0.0
    clean = true + 0.01
    assert torch.isfinite(rollout_nrmse(clean, true)).all() and torch.isfinite(metrics.nrmse(clean[2], true[2])).all()


def test_the_rollout_sentence_says_whether_the_error_grows_and_when_correlation_is_undefined():
    from pdekit.eval.rollout import rollout_metrics
    from pdekit.eval.rollout_report import rollout_sentence

    t = np.array([0.1, 0.2, 0.3])
    true = torch.ones(2, 3, 1, 8)  # constant over the grid at every step: no correlation defined
    pred = true * torch.tensor([1.5, 1.2, 1.01]).view(1, 3, 1, 1)  # the error falls
    m = rollout_metrics(pred, true, t)
    assert m["correlation_time"] is None and m["correlation_defined_steps"] == 0
    sentence = rollout_sentence(m, t, 1)
    assert "relative L2 falls from 0.5 " in sentence and "is undefined" in sentence and "above 0.8" not in sentence
    assert sentence.startswith("From the stored state at t = 0 of each test trajectory the surrogate rolled out 3 "
                               "steps (t = 0.1 to 0.3)")
    assert "from the stored 10 states up to t = 0 of" in rollout_sentence(m, t, 10).lower()
    x = torch.linspace(0, 1, 8)
    varying = true + x  # defined at every step, and the prediction follows it
    m = rollout_metrics(varying + 0.01 * torch.arange(3.0).view(1, 3, 1, 1), varying, t)
    assert m["correlation_defined_steps"] == 3 and rollout_sentence(m, t, 1).endswith("stays above 0.8 throughout.")
    assert "relative L2 grows from 0 " in rollout_sentence(m, t, 1)


def test_a_rollout_report_says_what_was_trained_on_what():
    """The rollout report had no setup: not the data, its splits, the step, the model, the target
    or the training mode (an operator report says them)."""
    from pdekit.eval.rollout_report import _setup
    from pdekit.recipes import load_recipe

    lines = _setup(load_recipe("burgers_rollout", quick=True), {"dt": 0.05, "params": 1234, "train_seconds": 9.0})
    recipe = load_recipe("burgers_rollout", quick=True)
    r, task = recipe.rollout, recipe.task
    assert lines[0] == ("- data: burgers_1d, 128 points per axis: 48 train / 16 validation / 16 test trajectories "
                        "(disjoint index ranges of seed 0); grid periodic")
    assert "1,234 parameters" in lines[1] and "one stored step (dt = 0.05) per call, conditioned on nu (channels)" in lines[1]
    assert lines[2].startswith(f"- training: windows of {r.history} + {r.steps} steps") and lines[2].endswith("9.0 s of training")
    assert (task.mode.replace("_", "-") in lines[2]) or ("teacher forcing" in lines[2])
