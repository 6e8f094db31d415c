"""Operator-learning pairs from an HDF5 file in any layout pdekit reads, and per-channel normalizers.

The task follows from the problem: a steady problem maps its stored inputs to its fields
(Darcy: a -> u); a time-dependent one maps the fields at time index ``input_time`` to those at
``target_time`` (Burgers: u(t = 0) -> u(t = 1)). Tensors are channels-first, (n, c, *space).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch

from pdekit.data.formats import open_source, reading
from pdekit.errors import DataFileError


class Split(NamedTuple):
    """Samples start .. start + count - 1 of a file (count None: all after start).

    Parameters
    ----------
    path : str
        The HDF5 file, in any layout pdekit reads.
    start : int
        Index of the first sample.
    count : int or None
        Number of samples (None: all from ``start`` to the end of the file).
    """
    path: str
    start: int = 0
    count: int | None = None


def sample_count(path, held: int, start: int, count: int | None, exact: bool = True) -> int:
    """How many samples a read from ``start`` takes out of the ``held`` a file has: ``count`` (None:
    all to the end; with ``exact`` False, at most ``count``). A split must find all its samples:
    DataFileError where fewer remain (``exact``) or none."""
    taken = held - start if count is None else min(count, held - start)
    if start < 0 or taken < 1 or (exact and count is not None and taken < count):
        asked = f"samples {start} .. {start + count - 1}" if exact and count is not None else f"samples from index {start}"
        raise DataFileError(f"'{path}' holds {held} samples; {asked} were asked for")
    return taken


class PairTask(NamedTuple):
    """Which (input, target) pairs a time-dependent file gives (see ``load_pairs``); steady data
    ignores it.

    Parameters
    ----------
    input_time : int
        Time index of the input slice (negative: from the end).
    target_time : int
        Time index of the target slice (unless ``trajectory``).
    trajectory : bool
        Target a whole trajectory instead of one slice.
    input_steps : int
        With ``trajectory``: the input is this many slices from ``input_time`` (as channels) and the
        target the times after them (the FNO paper's FNO-3D: 10 in, 40 out); 1: the whole
        trajectory from one slice (PINO's setup).
    """
    input_time: int = 0
    target_time: int = -1
    trajectory: bool = False
    input_steps: int = 1

    @classmethod
    def of(cls, data) -> "PairTask":
        """The task a recipe's data section describes."""
        return cls(data.input_time, data.target_time, data.trajectory, data.input_steps)

    def shape(self, channels: tuple[int, int], ndim: int, params: int = 0) -> tuple[tuple[int, int], int]:
        """The pairs' ((input, output) channels, dimensions) given the data's channels (Problem.channels,
        Source.channels), spatial dimensions and parameters drawn per sample: a trajectory adds time,
        its input steps are channels of the state (fields constant in time, the input channels a
        time-dependent source has beyond its outputs, come once), and each parameter adds one input
        channel after them."""
        if not self.trajectory:
            return (channels[0] + params, channels[1]), ndim
        static = channels[0] - channels[1]
        return (channels[1] * self.input_steps + static + params, channels[1]), ndim + 1


def load_task(path: "str | os.PathLike | Split", data, limit: int | None = None):
    """load_pairs with the task a recipe's data section describes (time indices, trajectory)."""
    return load_pairs(path, data.input_time, data.target_time, limit=limit, trajectory=data.trajectory,
                      input_steps=data.input_steps)


def load_pairs(path: "str | os.PathLike | Split", input_time: int = 0, target_time: int = -1,
               limit: int | None = None, start: int = 0,
               trajectory: bool = False, input_steps: int = 1) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(x, y, meta) for samples start .. start + limit - 1 (all after ``start`` by default) of a
    file in any layout pdekit reads (pdekit, PDEBench, The Well; see data/formats.py): inputs and
    targets as float32 tensors, and a description with ``problem`` (None for foreign data),
    ``layout``, ``n``, ``resolution`` and, for pdekit files, the generation ``config``.

    ``trajectory``: the target is the whole trajectory (n, c, nt, *space) and the input the slice
    at ``input_time`` repeated along time, a space-time task (PINO's Burgers setup); with
    ``input_steps`` k > 1 the input is the k slices from ``input_time`` as channels (n, c k, nt', *space)
    and the target the nt' times after them (the FNO paper's FNO-3D).

    Parameters
    ----------
    path : str, os.PathLike or Split
        The file; a Split also gives the first sample and the count, which replace ``start`` and
        ``limit``.
    input_time : int
        Time index of the input slice (time-dependent data; negative indices count from the end).
    target_time : int
        Time index of the target slice (time-dependent data, unless ``trajectory``).
    limit : int or None
        At most this many samples (None: all after ``start``).
    start : int
        Index of the first sample.
    trajectory : bool
        Target the whole trajectory instead of one slice (time-dependent data only).
    input_steps : int
        With ``trajectory``: input slices (see above).

    Returns
    -------
    x : torch.Tensor
        Inputs, float32: a steady problem's stored inputs or the fields at ``input_time``,
        (n, c_in, *space); with ``trajectory`` that slice repeated in time, (n, c, nt, *space).
        Fields stored as constant in time (The Well's ``time_varying`` false) follow the state's
        channels, and a constant channel per parameter varying per sample comes last.
    y : torch.Tensor
        Targets, float32: the fields (at ``target_time``), (n, c_out, *space); with
        ``trajectory`` the whole trajectory, (n, c, nt, *space).
    meta : dict
        ``problem``, ``layout``, ``n`` (samples in the file), ``resolution`` (points along the first
        spatial axis) and ``config`` (a pdekit file's stored config; else just ``n`` and
        ``resolution``).

    Raises
    ------
    DataFileError
        If the file holds no sample from ``start`` on (or fewer than a Split's count), a time index
        is out of range, a trajectory is asked of steady data, or the samples read hold NaN or inf.
    """
    exact = isinstance(path, Split)  # a split's samples must all be there; a limit is at most
    if exact:
        path, start, limit = path.path, path.start, path.count
    f, source = open_source(path)
    with f:
        count = sample_count(path, source.n, start, limit, exact)
        task = PairTask(input_time, target_time, trajectory, input_steps)
        check_pairs(source, task)
        with reading(path):
            x, y = read_pairs(source, start, count, task)
    check_finite(path, start, inputs=x, targets=y)
    meta = {"problem": source.problem, "layout": source.layout, "n": source.n, "resolution": source.space[0],
            "config": source.attrs.get("config", {"n": source.n, "resolution": source.space[0]})}
    return torch.from_numpy(x), torch.from_numpy(y), meta


def check_finite(path, start: int, **arrays: np.ndarray) -> None:
    """Refuse arrays (samples first) holding NaN or inf, naming the first such sample of the file
    (``start``: the file index of the arrays' first sample): a broken file, which would otherwise
    surface as a NaN loss blamed on the learning rate."""
    for label, values in arrays.items():
        bad = ~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))  # (reshape(0, -1) fails on no samples)
        if bad.any():
            raise DataFileError(f"'{path}': the {label} of {int(bad.sum())} sample(s) hold NaN or inf, the first "
                                f"sample {start + int(bad.nonzero()[0][0])} of the file")


def check_pairs(source, task: PairTask) -> None:
    """Refuse time indices outside a source's stored times, a trajectory of steady data, and
    steady data with nothing to read as input."""
    if not source.time_dependent and not source.inputs and not source.params:
        raise DataFileError(f"'{source.path}' holds steady fields with no input and no per-sample parameter: "
                            f"there is nothing to map from")
    if source.time_dependent:
        for key, t in zip(("input_time", "target_time"), task[:2]):
            if not -source.nt <= t < source.nt:
                raise DataFileError(f"time index {t} (data.{key}) is outside the {source.nt} stored times of "
                                    f"'{source.path}'")
        if task.trajectory and task.input_steps > 1 and task.input_time % source.nt + task.input_steps >= source.nt:
            raise DataFileError(f"'{source.path}' stores {source.nt} times: {task.input_steps} input steps from time "
                                f"index {task.input_time % source.nt} leave none to predict")
    elif task.trajectory:
        raise DataFileError(f"'{source.path}' holds steady data: a trajectory target needs time-dependent data")


def read_pairs(source, start: int, count: int, task: PairTask = PairTask()) -> tuple[np.ndarray, np.ndarray]:
    """The (inputs, targets) arrays of samples start .. start + count - 1 of an open source, as
    ``load_pairs`` describes them (times already checked by ``check_pairs``)."""
    task = PairTask(*task)  # a plain tuple too
    if not source.time_dependent:
        y = np.stack([read(start, count, None) for read in source.fields.values()], axis=1)
        inputs = [read(start, count, None) for read in source.inputs.values()]
        x = np.stack(inputs, axis=1) if inputs else np.empty((count, 0, *y.shape[2:]), np.float32)
        return _with_params(x, source, start, count), y
    nt, t0, k = source.nt, task.input_time % source.nt, task.input_steps
    static = [read(start, count, None) for read in source.inputs.values()]  # (fields constant in time: after the state's)
    if task.trajectory:
        y = np.stack([read(start, count, None) for read in source.fields.values()], axis=1)  # (n, c, nt, *space)
        x = y[:, :, t0 : t0 + 1] if k == 1 else y[:, :, t0 : t0 + k].reshape(count, -1, 1, *y.shape[3:])
        y = y if k == 1 else np.ascontiguousarray(y[:, :, t0 + k :])
        x = np.concatenate([x, *(s[:, None, None] for s in static)], axis=1)
        return _with_params(np.broadcast_to(x, (count, x.shape[1], *y.shape[2:])), source, start, count), y
    x = np.stack([read(start, count, t0) for read in source.fields.values()] + static, axis=1)
    return (_with_params(x, source, start, count),
            np.stack([read(start, count, task.target_time % nt) for read in source.fields.values()], axis=1))


def _with_params(x: np.ndarray, source, start: int, count: int) -> np.ndarray:
    """``x`` with one constant channel per parameter that varies per sample (sorted by name; the
    logarithm where the problem draws it on a log scale), float32, contiguous."""
    from pdekit.problems import log_scaled

    names = sorted(source.params)
    planes = []
    for name, log in zip(names, log_scaled(source.problem, names)):
        values = source.params[name](start, count, None)
        values = np.log(values) if log else values
        planes.append(np.broadcast_to(values.reshape(count, 1, *[1] * (x.ndim - 2)), (count, 1, *x.shape[2:])))
    return np.ascontiguousarray(np.concatenate([x, *planes], axis=1), dtype=np.float32)


class Normalizer(torch.nn.Module):
    """Per-channel affine map to zero mean and unit variance (scalars, so resolution-free).

    Parameters
    ----------
    mean, std : per-channel mean and standard deviation, shaped (channels,); ``Normalizer.fit(data)``
        takes them from data shaped (n, channels, *space). ``encode`` and ``decode`` map tensors
        shaped (batch, channels, *space) to normalized values and back.
    """

    @classmethod
    def of_moments(cls, mean: torch.Tensor, std: torch.Tensor) -> "Normalizer":
        """The normalizer of per-channel moments. A channel constant in the training data (deviation
        below 1e-12 of its size) is scaled by its own size, |mean| or 1 if smaller, rather than by its zero
        deviation: inputs that differ from it later (augmented by a change of coordinates, held out)
        stay finite, and the constant itself still encodes to 0."""
        return cls(mean, cls.scale(mean, std))

    @staticmethod
    def scale(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """The deviation ``of_moments`` divides by, in the moments' own dtype: ``std``, or for a
        channel constant in the data its size (|mean|, or 1 if smaller)."""
        size = mean.abs().clamp_min(1.0)
        return torch.where(std > 1e-12 * size, std, size)

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.reshape(-1).float())
        self.register_buffer("std", std.reshape(-1).float())

    @classmethod
    def fit(cls, data: torch.Tensor) -> "Normalizer":
        """The normalizer of ``data``: per-channel mean and (unbiased) standard deviation over every
        axis but the channel axis, computed in float64 (a constant channel as in ``of_moments``).

        Parameters
        ----------
        data : torch.Tensor
            Samples shaped (n, channels, *space).

        Returns
        -------
        Normalizer
            Its buffers ``mean`` and ``std`` are float32, shaped (channels,).
        """
        dims = [d for d in range(data.ndim) if d != 1]
        mean = data.double().mean(dim=dims)
        return cls.of_moments(mean, data.double().std(dim=dims))

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize: (x - mean) / std, channel by channel.

        Parameters
        ----------
        x : torch.Tensor
            Raw values shaped (batch, channels, *space).

        Returns
        -------
        torch.Tensor
            Normalized values, shaped like ``x``.
        """
        return (x - self.mean.view(self._shape(x))) / self.std.view(self._shape(x))

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """De-normalize: x * std + mean, channel by channel (the inverse of ``encode``).

        Parameters
        ----------
        x : torch.Tensor
            Normalized values shaped (batch, channels, *space).

        Returns
        -------
        torch.Tensor
            Values in the data's units, shaped like ``x``.
        """
        return x * self.std.view(self._shape(x)) + self.mean.view(self._shape(x))
