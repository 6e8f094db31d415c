"""Training losses, per-sample relative and averaged over the batch."""

from __future__ import annotations

import functools

import torch

from pdekit.eval.metrics import relative_l2


def relative_l2_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """The metric relative_l2 in the prediction's precision, averaged over the batch."""
    return relative_l2(pred, true, dtype=None).mean()


def _gradient_norm2(x: torch.Tensor, grid: str) -> torch.Tensor:
    """Sum over the grid of |grad x|^2 by second-order central differences on the unit domain:
    wrapping around on a periodic grid (spacing 1 / n), one-sided at the ends on nodes (1 / (n - 1))."""
    if grid == "periodic":
        grads = [(x.roll(-1, d) - x.roll(1, d)) * (n / 2) for d, n in enumerate(x.shape[2:], start=2)]
    else:
        dims = list(range(2, x.ndim))
        grads = torch.gradient(x, spacing=[1.0 / max(n - 1, 1) for n in x.shape[2:]], dim=dims)
    return sum(g.flatten(1).pow(2).sum(1) for g in grads)


def relative_h1_loss(pred: torch.Tensor, true: torch.Tensor, grid: str = "nodes") -> torch.Tensor:
    """Relative Sobolev H1 norm of the error: (|e|^2 + |grad e|^2)^1/2 / (same for true), the
    gradient by differences on the data's ``grid`` ("periodic" or "nodes")."""
    err = pred - true
    num = err.flatten(1).pow(2).sum(1) + _gradient_norm2(err, grid)
    den = true.flatten(1).pow(2).sum(1) + _gradient_norm2(true, grid)
    return (num.sqrt() / den.sqrt().clamp_min(1e-12)).mean()


def relative_sobolev_loss(pred: torch.Tensor, true: torch.Tensor, s: float = 1.0) -> torch.Tensor:
    """Relative Sobolev H^s norm of the error in Fourier space, ||e||_s / ||true||_s with
    ||f||_s^2 = sum_k (1 + 4 pi^2 |k|^2)^s |f_k|^2 over the grid's modes (k in cycles per domain,
    the grid taken as periodic). s > 0 weighs the error's high frequencies up (H1 at s = 1), s < 0
    down (the negative Sobolev norm H^-s, which forgives small-scale error); s = 0 is the relative
    L2 (Parseval). Every channel counts, as in relative_l2.

    Parameters
    ----------
    pred, true : torch.Tensor
        (batch, channels, *space).
    s : float
        The Sobolev exponent.

    Returns
    -------
    torch.Tensor
        The batch mean, a scalar.
    """
    dims = tuple(range(2, true.ndim))
    k2 = sum(torch.fft.fftfreq(n, 1.0 / n, dtype=true.dtype, device=true.device).view(*[-1 if j == d else 1 for j in dims]) ** 2
             for d, n in zip(dims, true.shape[2:]))
    weight = (1 + 4 * torch.pi**2 * k2) ** s
    def norm2(f):
        return (weight * torch.fft.fftn(f, dim=dims).abs() ** 2).flatten(1).sum(1)
    return (norm2(pred - true).sqrt() / norm2(true).sqrt().clamp_min(1e-12)).mean()


LOSSES = {"rel_l2": relative_l2_loss, "h1": relative_h1_loss, "sobolev": relative_sobolev_loss}


def make_loss(name: str, sobolev_s: float = 1.0, grid: str = "nodes"):
    """The loss ``name`` of LOSSES as a function of (pred, true); "sobolev" with its exponent, "h1"
    with its differences on ``grid``."""
    if name == "sobolev":
        return functools.partial(relative_sobolev_loss, s=sobolev_s)
    return functools.partial(relative_h1_loss, grid=grid) if name == "h1" else LOSSES[name]

