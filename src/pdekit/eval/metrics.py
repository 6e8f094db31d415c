"""Error metrics on de-normalized fields (docs/metrics.md). Inputs are (batch, channels, *space)."""

from __future__ import annotations

import math

import torch

# PDEBench's frequency bands, in integer wavenumbers |k| (radial in 2D and 3D)
BANDS = {"low": (0, 4), "mid": (4, 12), "high": (12, math.inf)}


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).double()


def relative_l2(pred: torch.Tensor, true: torch.Tensor, dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
    """Per sample ||pred - true||_2 / ||true||_2 over channels and grid (the FNO papers' metric),
    computed in ``dtype`` (None: the inputs' own, as the training loss needs for its gradient).

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, ...), usually (batch, channels, *space).
    dtype : torch.dtype or None
        Precision of the computation (None: keep the inputs' dtype and graph).

    Returns
    -------
    torch.Tensor
        Shape (batch,); the denominator is clamped at 1e-30.
    """
    pred, true = pred.reshape(pred.shape[0], -1), true.reshape(true.shape[0], -1)
    if dtype is not None:
        pred, true = pred.to(dtype), true.to(dtype)
    return (pred - true).norm(dim=1) / true.norm(dim=1).clamp_min(1e-30)


def rmse(pred, true) -> torch.Tensor:
    """Per sample sqrt(mean((pred - true)^2)) over channels and grid.

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, channels, *space).

    Returns
    -------
    torch.Tensor
        Shape (batch,), float64.
    """
    return ((_flat(pred) - _flat(true)) ** 2).mean(dim=1).sqrt()


def pooled_rmse(pred, true) -> float:
    """sqrt of the mean square error over samples, channels and grid: the RMSE whose square the
    fRMSE bands' squares add up to (a mean of per-sample RMSEs would not).

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, channels, *space).

    Returns
    -------
    float
    """
    return float(rmse(pred, true).pow(2).mean().sqrt())


def nrmse(pred, true) -> torch.Tensor:
    """Per sample: per channel RMSE / RMS(true) over space, then the mean over channels (PDEBench).

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, channels, *space).

    Returns
    -------
    torch.Tensor
        Shape (batch,), float64. A channel whose truth is zero everywhere has no relative error and
        is left out of the mean (it gave 1e23 through the clamp); NaN where every channel is zero,
        and where a prediction is NaN (it is never left out).
    """
    err = (pred - true).double().flatten(2)
    norm = true.double().flatten(2).pow(2).mean(-1).sqrt()
    ratio = err.pow(2).mean(-1).sqrt() / norm.clamp_min(1e-300)
    defined = norm > 0
    return torch.where(defined, ratio, 0.0).sum(dim=1) / defined.sum(dim=1)


def defined_mean(values: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """The mean over the first axis of ``values`` (samples, ...) over the samples whose truth (samples,
    ..., *field) is not zero everywhere, where a relative error is defined; a NaN value (a diverged
    prediction) is never left out: it makes the mean NaN. NaN where no sample has a truth."""
    defined = true.flatten(values.ndim).abs().amax(-1) > 0
    return torch.where(defined, values, 0.0).sum(dim=0) / defined.sum(dim=0)


def max_error(pred, true) -> torch.Tensor:
    """Per sample max |pred - true| over channels and grid.

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, channels, *space).

    Returns
    -------
    torch.Tensor
        Shape (batch,), float64.
    """
    return (_flat(pred) - _flat(true)).abs().max(dim=1).values


def frequency_rmse(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """RMSE of the error restricted to each wavenumber band: the error's Fourier coefficients
    (normalized so Parseval gives sum |e_k|^2 = mean e^2) summed over the band, averaged over
    samples and channels, square-rooted. The bands' squares add up to pooled_rmse's square.

    Wavenumbers are integers per axis (k = -n/2 .. n/2 - 1), radial |k| on 2D and 3D grids; the bands
    are BANDS (PDEBench's): low |k| < 4, mid 4 <= |k| < 12, high |k| >= 12.

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, channels, *space).

    Returns
    -------
    dict of str to float
        ``{"low": ..., "mid": ..., "high": ...}``.
    """
    err = (pred - true).double()
    ndim = err.ndim - 2
    dims = tuple(range(2, err.ndim))
    spectrum = torch.fft.fftn(err, dim=dims).abs().pow(2) / math.prod(err.shape[2:]) ** 2
    k2 = 0
    for axis, n in enumerate(err.shape[2:]):
        k = torch.fft.fftfreq(n, 1.0 / n, device=err.device).double()
        shape = [1] * ndim
        shape[axis] = -1
        k2 = k2 + k.reshape(shape) ** 2
    radius = torch.as_tensor(k2).sqrt()
    out = {}
    for name, (lo, hi) in BANDS.items():
        mask = (radius >= lo) & (radius < hi)
        out[name] = float((spectrum * mask).flatten(2).sum(-1).mean().sqrt())
    return out


def summary(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """Every metric over the whole set: relative L2 and nRMSE as the mean over samples (relative
    L2 also as the median), rmse and the fRMSE bands pooled over samples (so that the bands'
    squares add up to rmse^2), max_error as the maximum over samples.

    Parameters
    ----------
    pred, true : torch.Tensor
        Prediction and truth shaped (batch, channels, *space).

    Returns
    -------
    dict of str to float
        ``rel_l2``, ``median_rel_l2``, ``rmse``, ``nrmse``, ``max_error``, ``frmse_low``,
        ``frmse_mid`` and ``frmse_high``.
    """
    rel = relative_l2(pred, true)
    out = {
        "rel_l2": float(rel.mean()),
        "median_rel_l2": float(rel.median()),
        "rmse": pooled_rmse(pred, true),
        "nrmse": float(defined_mean(nrmse(pred, true), true)),
        "max_error": float(max_error(pred, true).max()),
    }
    out.update({f"frmse_{k}": v for k, v in frequency_rmse(pred, true).items()})
    return out
