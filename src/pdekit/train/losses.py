"""Training losses, per-sample relative and averaged over the batch."""

from __future__ import annotations

import torch

from pdekit.eval.metrics import relative_l2


def relative_l2_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """The metric relative_l2 in the prediction's precision, averaged over the batch."""
    return relative_l2(pred, true, dtype=None).mean()


def _gradient_norm2(x: torch.Tensor) -> torch.Tensor:
    """Sum over the grid of |grad x|^2 (second-order differences, grid spacing 1 / n)."""
    dims = list(range(2, x.ndim))
    grads = torch.gradient(x, spacing=[1.0 / n for n in x.shape[2:]], dim=dims)
    return sum(g.flatten(1).pow(2).sum(1) for g in grads)


def relative_h1_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Relative Sobolev H1 norm of the error: (|e|^2 + |grad e|^2)^1/2 / (same for true)."""
    err = pred - true
    num = err.flatten(1).pow(2).sum(1) + _gradient_norm2(err)
    den = true.flatten(1).pow(2).sum(1) + _gradient_norm2(true)
    return (num.sqrt() / den.sqrt().clamp_min(1e-12)).mean()


LOSSES = {"rel_l2": relative_l2_loss, "h1": relative_h1_loss}

