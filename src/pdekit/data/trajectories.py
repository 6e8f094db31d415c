"""Trajectories of time-dependent data and the windows autoregressive training learns from.

A trajectory file (pdekit, PDEBench or The Well layout; see data/formats.py) holds fields shaped
(n, nt, *space) per channel; ``load_trajectories`` stacks them as (n, nt, channels, *space) with
the stored times, and ``windows`` cuts every trajectory into (k input steps, m target steps)
pairs with a stride.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from pdekit.data.dataset import Split, check_finite, sample_count
from pdekit.data.formats import open_source, reading
from pdekit.errors import DataFileError


def load_trajectories(path: "str | os.PathLike | Split") -> tuple[torch.Tensor, np.ndarray, dict]:
    """All stored times of samples of a time-dependent file.

    Parameters
    ----------
    path : a file in any layout pdekit reads, or a ``Split`` (a sample range of one).

    Returns
    -------
    u : float32 tensor (n, nt, channels, *space), the fields in the file's order.
    t : float64 array (nt,), the stored times (0, 1, ... where the file records none).
    meta : ``problem`` (None for foreign files), ``layout``, ``fields`` (channel names), ``n``, and
        ``params``: {name: float64 array (n,)} of the parameters that vary per trajectory.
    """
    start, count = 0, None
    if isinstance(path, Split):
        path, start, count = path.path, path.start, path.count
    f, source = open_source(path)
    with f:
        if not source.time_dependent:
            raise DataFileError(f"'{path}' holds steady data; trajectories need time-dependent data")
        if source.inputs:  # (predicting them would score a copy; dropping them would hide what the model needs)
            raise DataFileError(f"'{path}' holds fields constant in time ({', '.join(source.inputs)}), which rollouts "
                                f"do not read yet: train a map between two stored times (data.input_time, "
                                f"data.target_time), which reads them as inputs")
        count = sample_count(path, source.n, start, count)
        with reading(path):
            u = np.stack([read(start, count, None) for read in source.fields.values()], axis=2)
            params = {k: read(start, count, None) for k, read in source.params.items()}
        t = np.asarray(source.coords.get("t", np.arange(source.nt)), dtype=np.float64)
    check_finite(path, start, trajectories=u)
    if len(t) > 1 and not (np.diff(t) > 0).all():
        raise DataFileError(f"'{path}': the stored times must increase, got {np.array2string(t[:6], precision=4)}"
                            f"{' ...' if len(t) > 6 else ''}")
    meta = {"problem": source.problem, "layout": source.layout, "fields": list(source.fields), "n": source.n,
            "params": params}
    return torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32)), t, meta


def time_step(t: np.ndarray, path) -> float:
    """The one step between stored times ``t`` that a rollout takes, refusing uneven spacing in
    ``path``'s times: by more than 1e-3 of the step, plus what float32 rounding of the largest time
    allows (10,001 steps of 0.01 stored in float32 already differ by 8e-4)."""
    steps = np.diff(t)
    if not len(steps):
        raise DataFileError(f"'{path}': a rollout needs at least two stored times, got {len(t)}")
    rounding = 4 * np.finfo(np.float32).eps * float(np.abs(t).max())
    if np.ptp(steps) > 1e-3 * steps.mean() + 2 * rounding:
        raise DataFileError(f"'{path}': a rollout takes one time step, but the stored times are spaced unevenly "
                            f"(steps from {steps.min():.4g} to {steps.max():.4g})")
    # the first step where the steps agree to rounding; else (times rounded in float32) their mean
    return float(steps[0]) if np.ptp(steps) <= 1e-9 * steps.mean() else float((t[-1] - t[0]) / len(steps))


def windows(u: torch.Tensor, k: int, m: int, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of ``k`` consecutive input steps followed by ``m`` target steps.

    Parameters
    ----------
    u : trajectories (n, nt, channels, *space).
    k, m : input and target steps per window (k + m <= nt).
    stride : steps between the starts of consecutive windows of one trajectory.

    Returns
    -------
    x : (n * w, k, channels, *space) and y : (n * w, m, channels, *space), the windows of
    trajectory 0 first; w = (nt - k - m) // stride + 1 windows per trajectory.
    """
    nt = u.shape[1]
    if k < 1 or m < 1 or stride < 1:
        raise DataFileError(f"windows need k >= 1 input steps, m >= 1 target steps and stride >= 1; got {k}, {m}, "
                            f"{stride}")
    if k + m > nt:
        raise DataFileError(f"windows of {k} input and {m} target steps need {k + m} stored times; the data has {nt}")
    starts = range(0, nt - k - m + 1, stride)
    x = torch.stack([u[:, s : s + k] for s in starts], dim=1).flatten(0, 1)
    y = torch.stack([u[:, s + k : s + k + m] for s in starts], dim=1).flatten(0, 1)
    return x, y
