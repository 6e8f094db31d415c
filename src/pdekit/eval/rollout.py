"""Metrics of autoregressive rollouts, shaped (samples, steps, channels, *space): the error of
every predicted step, the FNO paper's relative L2 over the whole predicted trajectory, APEBench's
geometric mean of nRMSE over the first 100 steps, PDE-Refiner's high-correlation time and MP-PDE's
accumulated error."""

from __future__ import annotations

import math

import numpy as np
import torch

from pdekit.eval.metrics import nrmse, relative_l2


def _per_step(metric, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    n, steps = pred.shape[:2]
    return metric(pred.flatten(0, 1), true.flatten(0, 1)).view(n, steps).mean(dim=0)


def rollout_rel_l2(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Relative L2 of each predicted step (over channels and grid), averaged over samples: (steps,)."""
    return _per_step(relative_l2, pred, true)


def rollout_nrmse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """nRMSE (PDEBench's, docs/metrics.md) of each predicted step, averaged over samples: (steps,)."""
    return _per_step(nrmse, pred, true)


def trajectory_rel_l2(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Per sample ||pred - true|| / ||true|| over all predicted steps, channels and grid at once,
    averaged over samples: the Navier-Stokes metric of the FNO paper (Li et al. 2021)."""
    return float(relative_l2(pred, true).mean())


def geometric_mean(values, first: int = 100) -> float | None:
    """exp(mean(log v)) over the first ``first`` values (APEBench's aggregate of the per-step
    nRMSE); None when fewer values exist."""
    values = [float(v) for v in values][:first]
    if len(values) < first:
        return None
    return math.exp(sum(math.log(max(v, 1e-300)) for v in values) / first)


def correlation(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of prediction and truth over channels and grid, per step, averaged over
    samples: (steps,)."""
    p = pred.double().flatten(2)
    q = true.double().flatten(2)
    p = p - p.mean(-1, keepdim=True)
    q = q - q.mean(-1, keepdim=True)
    r = (p * q).sum(-1) / (p.norm(dim=-1) * q.norm(dim=-1)).clamp_min(1e-300)
    return r.mean(dim=0)


def correlation_time(pred: torch.Tensor, true: torch.Tensor, t, threshold: float = 0.8) -> float | None:
    """The first time (in ``t``'s units, one time per predicted step) at which the mean Pearson
    correlation with the truth falls below ``threshold`` (PDE-Refiner, Lippe et al. 2023); None if
    it stays above for the whole rollout."""
    below = np.flatnonzero(correlation(pred, true).numpy() < threshold)
    return float(np.asarray(t)[below[0]]) if len(below) else None


def accumulated_error(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Per sample the squared error summed over the predicted steps and averaged over channels and
    grid, sum_t mean_x (pred - true)^2, averaged over samples: MP-PDE's accumulated error
    (Brandstetter et al. 2022), which grows with the horizon and the field's scale."""
    err = (pred.double() - true.double()).pow(2).flatten(2).mean(-1)  # (samples, steps)
    return float(err.sum(1).mean())


def rollout_metrics(pred: torch.Tensor, true: torch.Tensor, t) -> dict:
    """The output contract of a rollout run: per-step lists and the aggregates."""
    rel, nr = rollout_rel_l2(pred, true), rollout_nrmse(pred, true)
    return {"rollout_rel_l2": [float(v) for v in rel], "rollout_nrmse": [float(v) for v in nr],
            "trajectory_rel_l2": trajectory_rel_l2(pred, true), "rollout_gmean100": geometric_mean(nr, 100),
            "correlation_time": correlation_time(pred, true, t), "accumulated_error": accumulated_error(pred, true)}
