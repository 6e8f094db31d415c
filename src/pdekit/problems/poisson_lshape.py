"""Poisson's equation -Laplacian u = 1 on the L-shaped domain [-1, 1]^2 minus [0, 1]^2, u = 0 on its
boundary: the PINN benchmark of a corner singularity, against a finite-difference reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdekit.config import param, require
from pdekit.problems.base import PinnProblem, register


@dataclass(frozen=True)
class PoissonLConfig:
    reference_n: int = param(256, "finite-difference reference: cells per unit length")
    hard: bool = param(True, "impose u = 0 exactly through the polygon's distance")

    def validate(self):
        """Check that reference_n is even and >= 8."""
        require(self.reference_n >= 8 and self.reference_n % 2 == 0, "reference_n must be even and >= 8")


def _nodes(n: int) -> np.ndarray:
    """The reference grid's nodes along each axis: [-1, 1] with h = 1 / n."""
    return np.linspace(-1, 1, 2 * n + 1)


def poisson_l_reference(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Second-order 5-point finite differences on [-1, 1]^2 with h = 1 / n; NaN outside the L."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    axis = _nodes(n)
    X, Y = np.meshgrid(axis, axis, indexing="ij")
    inside = (np.abs(X) < 1) & (np.abs(Y) < 1) & ~((X >= 0) & (Y >= 0))
    index = -np.ones(X.shape, dtype=int)
    index[inside] = np.arange(inside.sum())
    h2 = (1.0 / n) ** 2
    rows, cols, vals = [], [], []
    for i, j in zip(*np.nonzero(inside)):
        k = index[i, j]
        rows.append(k), cols.append(k), vals.append(4 / h2)
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if inside[i + di, j + dj]:
                rows.append(k), cols.append(index[i + di, j + dj]), vals.append(-1 / h2)
    a = sp.csc_matrix((vals, (rows, cols)), shape=(inside.sum(),) * 2)
    u = np.full(X.shape, np.nan)
    u[inside] = spla.spsolve(a, np.ones(inside.sum()))
    return axis, u


@register
class PoissonLShapePinn(PinnProblem):
    """PINN benchmark: -Laplacian u = 1 on the L-shaped domain [-1, 1]^2 minus [0, 1]^2, u = 0 on its
    boundary (hard through the polygon's approximate distance, or soft); scored against the
    5-point finite-difference reference."""

    name = "poisson_lshape"
    summary = "PINN: Poisson on the L-shaped domain (hard Dirichlet through the polygon's distance), FD reference"
    Config = PoissonLConfig

    def build(self, network):
        from pdekit.models import build_network
        from pdekit.pinn import PINN, Benchmark, Dirichlet, Polygon, laplacian

        c = self.config
        domain = Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])
        pinn = PINN(domain, lambda u, x: laplacian(u, x) + 1, build_network(network, 2), [Dirichlet(0.0, hard=c.hard)])
        stride = max(1, c.reference_n // 32)
        axis = _nodes(c.reference_n)[::stride]

        def reference():  # solved when the run is scored, not when its recipe is loaded
            return poisson_l_reference(c.reference_n)[1][::stride, ::stride]

        X, Y = np.meshgrid(axis, axis, indexing="ij")
        return Benchmark(pinn, {"x": axis, "y": axis}, np.stack([X.ravel(), Y.ravel()], axis=1), reference)
