"""The lid-driven cavity: steady incompressible Navier-Stokes on the unit square, lid velocity 1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import param, require
from pdekit.errors import PdekitError
from pdekit.numerics.mac import FlowSolution, StaggeredNavierStokes, lid_driven
from pdekit.problems.base import PinnProblem, Problem, register


@dataclass(frozen=True)
class CavityConfig:
    re: float = param(100.0, "Reynolds number (lid velocity 1, side 1); with re_max: the smallest of the samples'")
    re_max: float = param(0.0, "draw each sample's Reynolds number log-uniformly from [re, re_max] (0: re for all)")
    solve_resolution: int = param(65, "nodes per side of the grid the solver runs on (cells: one fewer)")
    tol: float = param(1e-10, "Newton stops when every discrete equation holds to this (max-norm)")

    def validate(self) -> None:
        """Check re > 0, at least 5 nodes per side and tol > 0."""
        require(self.re > 0, f"re must be positive, got {self.re}")
        require(self.solve_resolution >= 5, f"solve_resolution must be at least 5 nodes, got {self.solve_resolution}")
        require(self.tol > 0, f"tol must be positive, got {self.tol}")


@register
class Cavity2D(Problem):
    """Lid-driven cavity: (u . grad) u - (1/Re) lap u + grad p = 0, div u = 0 on [0, 1]^2, u = 1
    on the lid y = 1, no slip elsewhere; steady, by Newton's method on a staggered grid
    (numerics/mac.py), with continuation in Re above Re = 400. Stores u, v and p
    (zero mean) on the nodes, indexed [x, y]; each sample may have its own Re (re_max)."""

    name = "cavity_2d"
    summary = "lid-driven cavity, steady Navier-Stokes at Reynolds number re; staggered grid + Newton"
    Config = CavityConfig
    ndim = 2
    time_dependent = False
    periodic = False
    fields = ("u", "v", "p")
    min_resolution = 5
    default_resolution = 65
    varying = {"re": "log"}
    solver_device = "cpu"  # Newton with SciPy's sparse LU, whatever the device

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"re": np.float64(self.config.re)}  # replaced by the sample's own where re varies

    def flow(self, re: float) -> FlowSolution:
        """The converged flow at ``re`` on the solve grid (faces and cell centres)."""
        if getattr(self, "_solver", None) is None:  # its boundary maps are built once per problem
            self._solver = StaggeredNavierStokes(self.solve_resolution - 1, lid_driven)
        return self._solver.solve(re, self.config.tol)

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        re = inputs.get("re")
        if re is None:
            raise PdekitError("cavity_2d.solve needs inputs['re'], one Reynolds number per sample (batch,)")
        out = {name: [] for name in self.fields}
        for value in re.tolist():
            for name, nodes in zip(self.fields, self.flow(value).nodes(lid_driven)):
                out[name].append(torch.from_numpy(nodes))
        return {name: torch.stack(values).to(re.device) for name, values in out.items()}

    def iterative_tolerance(self, device: str) -> str:
        """``tol``, Newton's stopping tolerance: the solver ladder loosens it as it would a time step."""
        return "tol"

    def residual(self, fields, inputs=None):
        raise PdekitError("cavity_2d has no grid residual for a physics loss yet")


# Ghia, Ghia and Shin (1982), Tables I and II: u on the vertical centreline x = 0.5 and v on the
# horizontal centreline y = 0.5 of their 129 x 129 solutions (positions are k / 128, rounded).
GHIA_Y = (1.0, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5, 0.4531, 0.2813, 0.1719, 0.1016,
          0.0703, 0.0625, 0.0547, 0.0)
GHIA_U = {
    100: (1.0, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581, -0.21090, -0.15662,
          -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.0),
    400: (1.0, 0.75837, 0.68439, 0.61756, 0.55892, 0.29093, 0.16256, 0.02135, -0.11477, -0.17119, -0.32726,
          -0.24299, -0.14612, -0.10338, -0.09266, -0.08186, 0.0),
    1000: (1.0, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080, -0.10648, -0.27805,
           -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.0),
}
GHIA_X = (1.0, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5, 0.2344, 0.2266, 0.1563, 0.0938,
          0.0781, 0.0703, 0.0625, 0.0)
GHIA_V = {
    100: (0.0, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454, 0.17527, 0.17507,
          0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.0),
    400: (0.0, -0.12146, -0.15663, -0.19254, -0.22847, -0.23827, -0.44993, -0.38598, 0.05186, 0.30174, 0.30203,
          0.28124, 0.22965, 0.20920, 0.19713, 0.18360, 0.0),
    1000: (0.0, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526, 0.32235, 0.33075,
           0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.0),
}

# Botella and Peyret (1998), Tables 9 and 10: their spectral (Chebyshev, N = 160) solution at
# Re = 1000 at Ghia's points, accurate to about 1e-7; Ghia's own Re = 1000 values differ from it by
# up to 0.019 near the walls.
BOTELLA_U_1000 = (1.0, 0.6644227, 0.5808359, 0.5169277, 0.4723329, 0.3372212, 0.1886747, 0.0570178, -0.0620561,
                  -0.1081999, -0.2803696, -0.3885691, -0.3004561, -0.2228955, -0.2023300, -0.1812881, 0.0)
BOTELLA_V_1000 = (0.0, -0.2279225, -0.2936869, -0.3553213, -0.4103754, -0.5264392, -0.4264545, -0.3202137,
                  0.0257995, 0.3253592, 0.3339924, 0.3769189, 0.3330442, 0.3099097, 0.2962703, 0.2807056, 0.0)


def centrelines(solution: FlowSolution) -> tuple[np.ndarray, np.ndarray]:
    """u(0.5, y) at Ghia's y and v(x, 0.5) at Ghia's x (positions taken as k / 128): the node
    values of an even grid, interpolated by a cubic spline along the line where a point is not a
    node."""
    from scipy.interpolate import CubicSpline

    u, v, _ = solution.nodes(lid_driven)
    n = u.shape[0] - 1
    if n % 2:
        raise PdekitError(f"the centrelines need an even number of cells, got {n}")
    axis = np.linspace(0.0, 1.0, n + 1)
    at = lambda points: np.round(np.asarray(points) * 128) / 128  # noqa: E731
    return CubicSpline(axis, u[n // 2, :])(at(GHIA_Y)), CubicSpline(axis, v[:, n // 2])(at(GHIA_X))


def ghia_deviation(re: int, cells: int = 128) -> dict:
    """The cavity at Ghia's ``re`` (100, 400 or 1000) on ``cells`` x ``cells`` cells against their
    tables: the largest deviation of u and of v over the tabulated points, in units of the lid
    velocity, and the profiles; at Re = 1000 also against Botella and Peyret's more accurate
    values (``max_u_deviation_botella``, ``max_v_deviation_botella``). Ghia's v at x = 0.9063 for
    Re = 400 (-0.23827) breaks the monotone profile and is left out as a misprint (REFERENCES.md)."""
    problem = Cavity2D.from_params(cells + 1, {"re": float(re), "solve_resolution": cells + 1})
    solution = problem.flow(float(re))
    u, v = centrelines(solution)
    du, dv = np.abs(u - GHIA_U[re]), np.abs(v - GHIA_V[re])
    if re == 400:
        dv[GHIA_X.index(0.9063)] = 0.0
    out = {"re": re, "cells": cells, "max_u_deviation": float(du.max()), "max_v_deviation": float(dv.max()),
           "u": u.tolist(), "v": v.tolist(), "newton_steps": solution.iterations}
    if re == 1000:
        out["max_u_deviation_botella"] = float(np.abs(u - BOTELLA_U_1000).max())
        out["max_v_deviation_botella"] = float(np.abs(v - BOTELLA_V_1000).max())
    return out


def regularized_lid(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall velocity of the regularized cavity: u = 16 x^2 (1 - x)^2 on the lid y = 1 (1 at its
    middle, vanishing with its slope at the corners), zero elsewhere."""
    return np.where(np.isclose(y, 1.0), 16 * x**2 * (1 - x) ** 2, 0.0) * np.ones_like(x), np.zeros_like(x)


@dataclass(frozen=True)
class CavityPinnConfig:
    re: float = param(100.0, "Reynolds number (lid velocity 1 at its middle, side 1)")
    reference_cells: int = param(128, "cells per side of the staggered-grid reference (the cavity_2d solver)")

    def validate(self) -> None:
        """Check 0 < re <= 1000 and an even reference_cells >= 8 (128, the default, is within about
        0.001 of the converged velocity at Re = 100; 64 within about 0.005)."""
        require(0 < self.re <= 1000, f"re must lie in (0, 1000], got {self.re:g}")
        require(self.reference_cells >= 8 and self.reference_cells % 2 == 0,
                f"reference_cells must be even and at least 8, got {self.reference_cells}")


def stream_function_residual(re: float):
    """The steady Navier-Stokes residual (both momentum equations) of an output (psi, p):
    u = psi_y, v = -psi_x, so the flow is divergence-free by construction; the viscous terms take
    third derivatives of psi."""
    from pdekit.pinn import derivative, partial

    def residual(out, x):
        psi, p = out[:, 0:1], out[:, 1]  # a column and a 1D column view: both read the Taylor pass
        u, v = derivative(psi, x, 1), -derivative(psi, x, 0)
        u_x, u_y, v_x = derivative(psi, x, 0, 1), derivative(psi, x, 1, 1), -derivative(psi, x, 0, 0)
        lap_u = derivative(psi, x, 0, 0, 1) + derivative(psi, x, 1, 1, 1)
        lap_v = -derivative(psi, x, 0, 0, 0) - derivative(psi, x, 0, 1, 1)
        return torch.cat([u * u_x + v * u_y + partial(p, x, 0) - lap_u / re,
                          u * v_x - v * u_x + partial(p, x, 1) - lap_v / re], dim=1)

    return residual


def no_slip_cavity():
    """The hard walls of the regularized cavity as a pinn Transform: psi = 16 x^2 (1 - x)^2 y^2 (y - 1)
    + 16 (x (1 - x) y (1 - y))^2 N_psi, p = N_p. psi and its gradient vanish on the walls except
    psi_y = 16 x^2 (1 - x)^2 on the lid, whatever the network."""
    from pdekit.pinn import Transform

    def shift(x):
        a, b = x[:, :1], x[:, 1:2]
        return torch.cat([16 * a**2 * (1 - a) ** 2 * b**2 * (b - 1), torch.zeros_like(a)], 1)

    def scale(x):
        a, b = x[:, :1], x[:, 1:2]
        return torch.cat([16 * (a * (1 - a) * b * (1 - b)) ** 2, torch.ones_like(a)], 1)

    return Transform(shift, scale)


def velocity(pinn, points: np.ndarray) -> np.ndarray:
    """(n, 2) velocity (psi_y, -psi_x) of a stream-function PINN at NumPy points."""
    p = next(pinn.parameters())
    x = torch.as_tensor(np.asarray(points), dtype=p.dtype, device=p.device).requires_grad_(True)
    g = torch.autograd.grad(pinn(x)[:, 0].sum(), x)[0].detach().cpu().numpy()
    return np.stack([g[:, 1], -g[:, 0]], axis=1)


@register
class CavityPinn(PinnProblem):
    """PINN benchmark: the steady lid-driven cavity with the regularized lid u = 16 x^2 (1 - x)^2
    (smooth, so a network can represent it; the uniform lid's corner singularity cannot be), in
    stream function and pressure with hard no-slip walls; scored by the velocity's relative L2 on
    the nodes of the cavity_2d solver's solution of the same problem."""

    name = "cavity"
    summary = "PINN: lid-driven cavity (regularized lid), stream function + pressure, hard walls; staggered-grid reference"
    Config = CavityPinnConfig

    def build(self, network):
        from pdekit.models import build_network
        from pdekit.pinn import PINN, Benchmark, Rectangle

        c = self.config
        pinn = PINN(Rectangle((0, 0), (1, 1)), stream_function_residual(c.re), build_network(network, 2, 2),
                    [no_slip_cavity()])

        def reference():  # (seconds on 128 x 128 cells: solved when the run is scored, not when it is loaded)
            u, v, _ = StaggeredNavierStokes(c.reference_cells, regularized_lid).solve(c.re).nodes(regularized_lid)
            return np.stack([u, v], axis=-1)

        axis = np.linspace(0.0, 1.0, c.reference_cells + 1)
        X, Y = np.meshgrid(axis, axis, indexing="ij")
        return Benchmark(pinn, {"x": axis, "y": axis}, np.stack([X.ravel(), Y.ravel()], axis=1), reference,
                         observe=velocity)
