"""A PINN with the reference solution it is scored against (what a PinnProblem builds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from pdekit.pinn.core import PINN


@dataclass
class Benchmark:
    pinn: PINN
    grid: dict[str, np.ndarray]  # axes of the evaluation grid, e.g. {"x": ..., "t": ...}
    points: np.ndarray  # (n, d) evaluation points
    reference: np.ndarray  # reference values at the points, shaped like the grid (time first); NaN outside
    extra: Callable[[PINN], dict] = lambda pinn: {}  # noqa: E731  problem-specific metrics

    def evaluate(self) -> tuple[dict, np.ndarray]:
        """({"test_rel_l2", "max_error", ...extra}, the PINN's values on the grid)."""
        import torch

        from pdekit.eval.metrics import relative_l2

        u = self.pinn.predict(self.points)[:, 0].reshape(self.reference.shape)
        mask = np.isfinite(self.reference)
        err = relative_l2(torch.from_numpy(u[mask])[None], torch.from_numpy(self.reference[mask])[None])
        return {"test_rel_l2": float(err[0]), "max_error": float(np.abs(u - self.reference)[mask].max()),
                **self.extra(self.pinn)}, u


def space_time_grid(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t) * len(x), 2) points (x, t), t slowest: the layout of a (nt, nx) reference."""
    xx, tt = np.meshgrid(x, t)
    return np.stack([xx.ravel(), tt.ravel()], axis=1)
