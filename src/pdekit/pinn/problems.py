"""The standard PINN benchmarks, each with its reference solution: built by name from a recipe's
``problem`` section (``name`` and parameters), evaluated on the reference's grid."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from pdekit.config import make_config, param, require
from pdekit.errors import ConfigError
from pdekit.pinn.core import PINN, Dirichlet, Initial, Observation, Periodic
from pdekit.pinn.geometry import Interval, Polygon, TimeInterval
from pdekit.pinn.networks import build_network
from pdekit.pinn.operators import laplacian, partial
from pdekit.pinn.reference import burgers_cole_hopf


@dataclass
class Benchmark:
    pinn: PINN
    grid: dict[str, np.ndarray]  # axes of the evaluation grid, e.g. {"x": ..., "t": ...}
    points: np.ndarray  # (n, d) evaluation points
    reference: np.ndarray  # reference values at the points, shaped like the grid (time first)
    extra: Callable[[PINN], dict] = lambda pinn: {}  # noqa: E731  problem-specific metrics

    def evaluate(self) -> tuple[dict, np.ndarray]:
        u = self.pinn.predict(self.points)[:, 0].reshape(self.reference.shape)
        mask = np.isfinite(self.reference)
        err = np.linalg.norm((u - self.reference)[mask]) / np.linalg.norm(self.reference[mask])
        return {"test_rel_l2": float(err), "max_error": float(np.abs(u - self.reference)[mask].max()),
                **self.extra(self.pinn)}, u


PROBLEMS: dict[str, tuple[type, Callable]] = {}


def register(name, config_cls):
    def wrap(fn):
        PROBLEMS[name] = (config_cls, fn)
        return fn
    return wrap


def build_benchmark(section: dict, network: dict) -> Benchmark:
    options = dict(section)
    name = options.pop("name", None)
    if name not in PROBLEMS:
        raise ConfigError(f"unknown PINN problem '{name}'; known: {', '.join(sorted(PROBLEMS))}")
    config_cls, build = PROBLEMS[name]
    return build(make_config(config_cls, options, owner=f"PINN problem '{name}'"), network)


def _space_time_grid(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    xx, tt = np.meshgrid(x, t)
    return np.stack([xx.ravel(), tt.ravel()], axis=1)


# --- Burgers: nu = 0.01 / pi on [-1, 1], u0 = -sin(pi x), u(+-1, t) = 0 ------------------------------
@dataclass(frozen=True)
class BurgersConfig:
    nu: float = param(0.01 / math.pi, "viscosity")
    hard: bool = param(True, "impose the initial and boundary conditions exactly (else as loss terms)")
    nx: int = param(256, "evaluation grid: points in x")
    nt: int = param(101, "evaluation grid: points in t")

    def validate(self):
        require(self.nu > 0 and self.nx >= 2 and self.nt >= 2, "nu must be positive, nx and nt >= 2")


def _burgers_residual(nu_of):
    def residual(u, x, c):
        return partial(u, x, 1) + u * partial(u, x, 0) - nu_of(c) * partial(u, x, 0, 2)
    return residual


def _burgers_conditions(hard):
    return [Initial(lambda x: -torch.sin(math.pi * x[:, :1]), hard=hard), Dirichlet(0.0, hard=hard)]


@register("burgers", BurgersConfig)
def burgers(c: BurgersConfig, network: dict) -> Benchmark:
    domain = Interval(-1, 1) * TimeInterval(0, 1)
    pinn = PINN(domain, _burgers_residual(lambda _: c.nu), build_network(network, 2), _burgers_conditions(c.hard))
    x, t = np.linspace(-1, 1, c.nx), np.linspace(0, 1, c.nt)
    return Benchmark(pinn, {"x": x, "t": t}, _space_time_grid(x, t), burgers_cole_hopf(x, t, c.nu))


@dataclass(frozen=True)
class BurgersInverseConfig:
    nu_true: float = param(0.01 / math.pi, "viscosity that made the observations")
    nu_init: float = param(0.01, "initial guess of the trainable viscosity")
    observations: int = param(2000, "observed points, uniform in [-1, 1] x [0, 1]")
    noise: float = param(0.01, "observation noise: Gaussian, this fraction of the data's standard deviation")
    seed: int = param(0, "seed of the observation points and noise")

    def validate(self):
        require(self.nu_true > 0 and self.nu_init > 0, "nu_true and nu_init must be positive")
        require(self.observations >= 1 and self.noise >= 0, "observations must be >= 1 and noise >= 0")


@register("burgers_inverse", BurgersInverseConfig)
def burgers_inverse(c: BurgersInverseConfig, network: dict) -> Benchmark:
    """Recover nu from noisy observations; nu is trained as log(nu) so it stays positive."""
    rng = np.random.default_rng(c.seed)
    domain = Interval(-1, 1) * TimeInterval(0, 1)
    pts = np.column_stack([rng.uniform(-1, 1, c.observations), rng.uniform(0, 1, c.observations)])
    exact = np.array([burgers_cole_hopf(np.array([p[0]]), np.array([p[1]]), c.nu_true)[0, 0] for p in pts])
    observed = exact + c.noise * exact.std() * rng.standard_normal(len(exact))
    pinn = PINN(domain, _burgers_residual(lambda coeffs: torch.exp(coeffs["log_nu"])), build_network(network, 2),
                _burgers_conditions(True) + [Observation(pts, observed)],
                coefficients={"log_nu": math.log(c.nu_init)})
    x, t = np.linspace(-1, 1, 256), np.linspace(0, 1, 101)

    def extra(p):
        nu = math.exp(float(p.coefficients["log_nu"].detach()))
        return {"nu": nu, "nu_true": c.nu_true, "nu_rel_error": abs(nu / c.nu_true - 1)}

    return Benchmark(pinn, {"x": x, "t": t}, _space_time_grid(x, t), burgers_cole_hopf(x, t, c.nu_true), extra)


# --- Allen-Cahn: u_t = 1e-4 u_xx + 5 u - 5 u^3, u0 = x^2 cos(pi x), periodic on [-1, 1] ------------------
@dataclass(frozen=True)
class AllenCahnConfig:
    eps: float = param(1e-4, "diffusion coefficient")

    def validate(self):
        require(self.eps > 0, "eps must be positive")


@register("allen_cahn", AllenCahnConfig)
def allen_cahn(c: AllenCahnConfig, network: dict) -> Benchmark:
    """Reference: pdekit's allen_cahn_1d solver (spectral, ETDRK4) on the standard 512 x 201 grid."""
    from pdekit.data.generate import solve_samples
    from pdekit.problems import get_problem

    def residual(u, x):
        return partial(u, x, 1) - c.eps * partial(u, x, 0, 2) - 5 * u + 5 * u**3

    domain = Interval(-1, 1) * TimeInterval(0, 1)
    conditions = [Initial(lambda x: x[:, :1] ** 2 * torch.cos(math.pi * x[:, :1]), hard=True), Periodic(0, hard=True)]
    pinn = PINN(domain, residual, build_network(network, 3), conditions)
    problem = get_problem("allen_cahn_1d").from_params(512, {"eps": c.eps})
    ref = solve_samples(problem, 0, range(1))["fields/u"][0].astype(np.float64)
    x, t = problem.coords()["x"], problem.coords()["t"]
    return Benchmark(pinn, {"x": x, "t": t}, _space_time_grid(x, t), ref)


# --- Poisson on the L-shaped domain: -Laplacian u = 1, u = 0 on the boundary -------------------------
@dataclass(frozen=True)
class PoissonLConfig:
    reference_n: int = param(256, "finite-difference reference: cells per unit length")
    hard: bool = param(True, "impose u = 0 exactly through the polygon's distance")

    def validate(self):
        require(self.reference_n >= 8 and self.reference_n % 2 == 0, "reference_n must be even and >= 8")


def poisson_l_reference(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Second-order 5-point finite differences on [-1, 1]^2 with h = 1 / n; NaN outside the L."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    axis = np.linspace(-1, 1, 2 * n + 1)
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


@register("poisson_lshape", PoissonLConfig)
def poisson_lshape(c: PoissonLConfig, network: dict) -> Benchmark:
    domain = Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])
    pinn = PINN(domain, lambda u, x: laplacian(u, x) + 1, build_network(network, 2), [Dirichlet(0.0, hard=c.hard)])
    axis, ref = poisson_l_reference(c.reference_n)
    stride = max(1, c.reference_n // 32)
    axis, ref = axis[::stride], ref[::stride, ::stride]
    X, Y = np.meshgrid(axis, axis, indexing="ij")
    return Benchmark(pinn, {"x": axis, "y": axis}, np.stack([X.ravel(), Y.ravel()], axis=1), ref)
