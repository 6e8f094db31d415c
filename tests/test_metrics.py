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


def test_every_reported_metric_is_documented():
    doc = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text()
    keys = set(metrics.summary(*_pairs(1))) - {"rel_l2"} | {"test_rel_l2"}  # evaluate renames rel_l2
    assert not [key for key in keys if f"`{key}`" not in doc]
