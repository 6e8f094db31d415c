"""Operator-learning pairs from a pdekit HDF5 file, and per-channel normalizers.

The task follows from the problem: a steady problem maps its stored inputs to its fields
(Darcy: a -> u); a time-dependent one maps the fields at time index ``input_time`` to those at
``target_time`` (Burgers: u(t = 0) -> u(t = 1)). Tensors are channels-first, (n, c, *space).
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import torch

from pdekit.data.storage import read_meta
from pdekit.errors import DataFileError
from pdekit.problems import get_problem


def load_pairs(path: str | os.PathLike, input_time: int = 0, target_time: int = -1,
               limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(x, y, meta): inputs and targets as float32 tensors, and the file's metadata."""
    meta = read_meta(path)
    problem = get_problem(meta["problem"])
    count = meta["config"]["n"] if limit is None else min(limit, meta["config"]["n"])
    try:
        with h5py.File(path, "r") as f:
            if problem.time_dependent:
                fields = [f[f"fields/{k}"] for k in problem.fields]
                nt = fields[0].shape[1]
                for t in (input_time, target_time):
                    if not -nt <= t < nt:
                        raise DataFileError(f"time index {t} is outside the {nt} stored times of '{path}'")
                x = np.stack([ds[:count, input_time] for ds in fields], axis=1)
                y = np.stack([ds[:count, target_time] for ds in fields], axis=1)
            else:
                x = np.stack([f[f"inputs/{k}"][:count] for k in problem.inputs], axis=1)
                y = np.stack([f[f"fields/{k}"][:count] for k in problem.fields], axis=1)
    except KeyError as exc:
        raise DataFileError(f"'{path}' lacks an array pdekit expects for {problem.name}: {exc}") from None
    return torch.from_numpy(x), torch.from_numpy(y), meta


class Normalizer(torch.nn.Module):
    """Per-channel affine map to zero mean and unit variance (scalars, so resolution-free)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.reshape(-1).float())
        self.register_buffer("std", std.reshape(-1).float())

    @classmethod
    def fit(cls, data: torch.Tensor) -> "Normalizer":
        dims = [d for d in range(data.ndim) if d != 1]
        mean = data.double().mean(dim=dims)
        std = data.double().std(dim=dims).clamp_min(1e-12)
        return cls(mean, std)

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.view(self._shape(x))) / self.std.view(self._shape(x))

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.view(self._shape(x)) + self.mean.view(self._shape(x))
