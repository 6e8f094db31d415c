"""Metrics of autoregressive rollouts, shaped (samples, steps, channels, *space): the error of
every predicted step, the FNO paper's relative L2 over the whole predicted trajectory, APEBench's
geometric mean of nRMSE over the first 100 steps, PDE-Refiner's high-correlation time and MP-PDE's
accumulated error."""

from __future__ import annotations

import math

import numpy as np
import torch

from pdekit.eval.metrics import defined_mean, nrmse, relative_l2


def _per_step(metric, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    n, steps = pred.shape[:2]  # steps without any truth left out (no relative error), diverged ones not
    return defined_mean(metric(pred.flatten(0, 1), true.flatten(0, 1)).view(n, steps), true)


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
    nRMSE); None when fewer values exist, 0 when one is 0 (an exact step), NaN when one is NaN."""
    values = [float(v) for v in values][:first]
    if len(values) < first:
        return None
    if any(math.isnan(v) for v in values):
        return math.nan
    if min(values) <= 0:
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / first)


def correlation(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of prediction and truth over the grid, per trajectory, step and channel,
    averaged over channels, then over trajectories: (steps,). Per channel, so that channels with
    different means (a density near 1 beside velocities near 0) do not correlate by their offsets
    alone. Where the truth is constant over the grid the correlation is undefined and left out of
    the means (NaN where every one is); a prediction that is constant or not finite has lost all
    correlation: 0."""
    p = pred.double().flatten(3)  # (trajectories, steps, channels, points)
    q = true.double().flatten(3)
    finite = torch.isfinite(p).all(-1)
    p = torch.where(finite[..., None], p, 0.0)
    p = p - p.mean(-1, keepdim=True)
    q_centered = q - q.mean(-1, keepdim=True)
    p_norm, q_norm = p.norm(dim=-1), q_centered.norm(dim=-1)
    r = (p * q_centered).sum(-1) / (p_norm * q_norm).clamp_min(1e-300)
    r = torch.where(finite & (p_norm > 0), r, 0.0)
    defined = q_norm > 1e-12 * q.norm(dim=-1)  # a constant truth's centred values are rounding
    r = torch.where(defined, r, torch.nan)
    return r.nanmean(dim=2).nanmean(dim=0)


def correlation_time(pred: torch.Tensor, true: torch.Tensor, t, threshold: float = 0.8) -> float | None:
    """The first time (in ``t``'s units, one time per predicted step) at which the mean Pearson
    correlation with the truth (``correlation``) falls below ``threshold`` (PDE-Refiner, Lippe et
    al. 2023); None if it stays above for the whole rollout. Steps where it is undefined (the truth
    constant everywhere) are passed over."""
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
            "correlation_time": correlation_time(pred, true, t),
            "correlation_defined_steps": int(torch.isfinite(correlation(pred, true)).sum()),
            "accumulated_error": accumulated_error(pred, true)}
