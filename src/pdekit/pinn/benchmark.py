"""A PINN with the reference solution it is scored against (what a PinnProblem builds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from pdekit.pinn.core import PINN


def _no_extra(pinn: PINN) -> dict:
    """No problem-specific metrics: the default of ``Benchmark.extra``."""
    return {}


@dataclass
class Benchmark:
    """A PINN and the reference solution it is scored against on a grid.

    Parameters
    ----------
    pinn : PINN
        The physics-informed model.
    grid : dict of str to numpy.ndarray
        Axes of the evaluation grid, e.g. ``{"x": ..., "t": ...}`` (the report plots the first two).
    points : numpy.ndarray
        The evaluation points, (n, d), in the order of ``reference.ravel()``.
    reference_source : numpy.ndarray or callable
        Reference values at the points, shaped like the grid (time first, e.g. (nt, nx)); NaN
        outside the domain. Or a function of no arguments that computes them, called once, when
        they are first read (the property ``reference``): a solver's reference costs seconds that
        loading a recipe (which builds the benchmark to validate it) should not pay.
    extra : callable
        ``extra(pinn) -> dict`` of problem-specific metrics (a recovered coefficient, say); none by
        default.
    observe : callable or None
        ``observe(pinn, points) -> (n,) or (n, c)``: what is compared with the reference (then
        shaped like the grid with c last), such as the velocity of a stream function; None: the
        first output column.
    """

    pinn: PINN
    grid: dict[str, np.ndarray]  # axes of the evaluation grid, e.g. {"x": ..., "t": ...}
    points: np.ndarray  # (n, d) evaluation points
    reference_source: np.ndarray | Callable[[], np.ndarray]  # the values, or a function computing them
    extra: Callable[[PINN], dict] = _no_extra  # problem-specific metrics
    observe: Callable[[PINN, np.ndarray], np.ndarray] | None = None  # default: the first output column

    @property
    def reference(self) -> np.ndarray:
        """Reference values at the points, shaped like the grid (time first); NaN outside."""
        if callable(self.reference_source):
            self.reference_source = np.asarray(self.reference_source())
        return self.reference_source

    def evaluate(self) -> tuple[dict, np.ndarray]:
        """({"test_rel_l2", "max_error", ...extra}, the PINN's values on the grid)."""
        import torch

        from pdekit.eval.metrics import relative_l2

        values = self.observe(self.pinn, self.points) if self.observe else self.pinn.predict(self.points)[:, 0]
        u = np.asarray(values).reshape(self.reference.shape)
        mask = np.isfinite(self.reference)
        err = relative_l2(torch.from_numpy(u[mask])[None], torch.from_numpy(self.reference[mask])[None])
        return {"test_rel_l2": float(err[0]), "max_error": float(np.abs(u - self.reference)[mask].max()),
                **self.extra(self.pinn)}, u


def space_time_grid(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t) * len(x), 2) points (x, t), t slowest: the layout of a (nt, nx) reference."""
    xx, tt = np.meshgrid(x, t)
    return np.stack([xx.ravel(), tt.ravel()], axis=1)
