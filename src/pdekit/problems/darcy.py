"""Steady Darcy flow -div(a grad u) = f on the unit square, u = 0 on the boundary (FNO setup).

The coefficient is a thresholded Gaussian random field (a_low * contrast where the field is
positive, a_low elsewhere: 12 and 3 in the FNO paper) or a log-normal field spanning the contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.errors import ConfigError
from pdekit.numerics import elliptic, random_fields
from pdekit.problems.base import Problem, register


@dataclass(frozen=True)
class DarcyConfig:
    coefficient: str = param("piecewise", "how a is made from the random field", ("piecewise", "lognormal"))
    a_low: float = param(3.0, "smallest coefficient value")
    contrast: float = param(4.0, "largest / smallest coefficient (4: the FNO paper's 12 / 3; up to 1e6)")
    f: float = param(1.0, "constant source term")
    grf_tau: float = param(3.0, "random field N(0, (-Laplacian + grf_tau^2 I)^-grf_alpha), Neumann modes")
    grf_alpha: float = param(2.0, "random field smoothness exponent")
    solve_resolution: int = param(421, "nodes per side of the solve grid, boundary included")
    solver: str = param("auto", "linear solver (auto: direct on CPU, cg on GPU)", ("auto", "direct", "cg"))
    cg_tol: float = param(1e-10, "relative residual at which CG stops")
    cg_max_iter: int = param(0, "CG iteration limit (0: 50 x solve_resolution)")

    def validate(self) -> None:
        """Check a_low > 0, contrast in [1, 1e6], solve_resolution >= 5, grf_tau > 0, grf_alpha > 1,
        cg_tol in (0, 1) and cg_max_iter >= 0."""
        require(self.a_low > 0, f"a_low must be positive, got {self.a_low}")
        require(1 <= self.contrast <= 1e6, f"contrast must lie in [1, 1e6], got {self.contrast:g}")
        require(self.solve_resolution >= 5, f"solve_resolution must be at least 5, got {self.solve_resolution}")
        limits(self, grf_tau=(">", 0), grf_alpha=(">", 1))
        require(0 < self.cg_tol < 1, f"cg_tol must lie in (0, 1), got {self.cg_tol}")
        require(self.cg_max_iter >= 0, f"cg_max_iter must be >= 0, got {self.cg_max_iter}")


@register
class Darcy2D(Problem):
    """-div(a grad u) = f (constant) on [0, 1]^2 with u = 0 on the boundary (the FNO setup); input
    the coefficient a, a thresholded or log-normal random field. Second-order finite volumes, solved
    by sparse LU (CPU) or batched CG (GPU); stores a and u on the node grid (x, y)."""

    name = "darcy_2d"
    summary = "-div(a grad u) = f on [0, 1]^2, u = 0 on the boundary; random a; finite volumes + sparse solve"
    Config = DarcyConfig
    ndim = 2
    time_dependent = False
    periodic = False
    inputs = ("a",)
    min_resolution = 5
    default_resolution = 85
    input_modes = 421  # cosine modes k < 421 per axis, those of the default 421-node solve grid
    # constant f, u = 0 on the square's boundary, a random field whose law is that of its rotations
    # and reflections, and a stencil with the same symmetry
    symmetries = ("dihedral",)

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        std = lambda k2: (math.pi**2 * k2 + c.grf_tau**2) ** (-c.grf_alpha / 2)  # noqa: E731
        g = random_fields.neumann_2d(rng, self.solve_resolution, std, self.input_modes)
        if c.coefficient == "piecewise":
            a = np.where(g > 0, c.a_low * c.contrast, c.a_low)
        else:  # log-normal: the field's +-3 standard deviations span [a_low, a_low * contrast]
            k = np.arange(self.input_modes)
            weight = np.where(k == 0, 1.0, 0.5)
            variance = ((std(k[:, None] ** 2 + k[None, :] ** 2) ** 2) * np.outer(weight, weight))[1:].sum()
            variance += ((std(k[1:] ** 2) ** 2) * weight[1:]).sum()  # the k1 = 0 row
            z = np.clip(g / math.sqrt(variance), -3, 3)
            a = c.a_low * c.contrast ** ((z + 3) / 6)
        return {"a": a}

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.config
        a = inputs["a"].to(torch.float64)
        if not bool((a > 0).all()):  # the operator is then not elliptic: a solve returns garbage
            raise ConfigError(f"darcy_2d: the coefficient a must be positive everywhere, got a minimum of "
                              f"{float(a.min()):.3g}")
        f = inputs.get("f")
        f = torch.full_like(a, c.f) if f is None else f.to(torch.float64)
        solver = c.solver if c.solver != "auto" else ("direct" if a.device.type == "cpu" else "cg")
        if solver == "direct":
            u = elliptic.solve_direct(a, f)
        else:
            u = elliptic.solve_cg(a, f, c.cg_tol, c.cg_max_iter or None)
        return {"u": u}

    @property
    def solver_device(self) -> str | None:
        """"cpu" with ``solver: direct`` (SciPy's sparse LU, whatever the device); conjugate
        gradients run where the inputs are."""
        return "cpu" if self.config.solver == "direct" else None

    def iterative_tolerance(self, device: str) -> str | None:
        """``cg_tol`` where conjugate gradients solve (``solver: cg``, or ``auto`` off the CPU)."""
        solver = self.config.solver
        return "cg_tol" if solver == "cg" or (solver == "auto" and device != "cpu") else None

    def residual(self, fields, inputs):
        """-div(a grad u) - f at interior nodes, and u itself on the boundary, with the solver's own
        finite-volume stencil (so the solver's output has zero residual on its grid)."""
        u = fields["u"].to(torch.float64)
        a = inputs["a"].to(torch.float64)
        f = inputs.get("f")  # a source given with the inputs, as the solver reads it
        out = u.clone()
        out[..., 1:-1, 1:-1] = elliptic.apply_operator(u, a) - (self.config.f if f is None else
                                                                f.to(torch.float64)[..., 1:-1, 1:-1])
        return out
