"""Convergence studies of every solver against exact, manufactured or finer-grid solutions.

The test suite asserts on these numbers and ``benchmarks/convergence.py`` writes them to
docs/solvers.md, so the documented orders are the tested ones. Each study returns
``{"name", "kind", "sizes", "errors", "order"}``: ``sizes`` are grid points per dimension (space)
or step counts (time), ``errors`` max-norm errors, ``order`` the least-squares slope of
log(error) against log(h) (``None`` for spectral, exponential convergence).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from pdekit.problems import get_problem


def observed_order(sizes, errors) -> float:
    """Slope of -log(error) against log(size), i.e. p in error ~ h^p with h ~ 1 / size."""
    return float(np.polyfit(np.log(np.asarray(sizes, float)), -np.log(np.asarray(errors, float)), 1)[0])


def _result(name, kind, sizes, errors, algebraic=True, cells=False):
    """``cells``: sizes count nodes with the boundary, so h = 1 / (size - 1)."""
    h_sizes = [s - 1 for s in sizes] if cells else sizes
    return {"name": name, "kind": kind, "sizes": list(sizes), "errors": [float(e) for e in errors],
            "order": observed_order(h_sizes, errors) if algebraic else None}


# --- heat: exact Fourier solution of u0 = 1 / (a + cos 2 pi x) ---------------------------------
def _heat_exact(x: np.ndarray, t: float, nu: float, a: float = 1.5, terms: int = 200) -> np.ndarray:
    s = math.sqrt(a * a - 1)
    r = s - a  # 1 / (a + cos th) = (1 + 2 sum r^k cos k th) / s
    k = np.arange(1, terms + 1)
    decay = np.exp(-nu * (2 * math.pi * k) ** 2 * t)
    return (1 + 2 * (r**k * decay) @ np.cos(2 * math.pi * np.outer(k, x))) / s


def heat_space(ndim: int = 1, sizes=(8, 16, 32, 64)) -> dict:
    errors = []
    for n in sizes:
        p = get_problem(f"heat_{ndim}d").from_params(n, {"nu": 0.01, "t_final": 1.0, "nt": 3})
        x = np.arange(n) / n
        u0_1d = 1 / (1.5 + np.cos(2 * math.pi * x))
        u0 = u0_1d if ndim == 1 else np.outer(u0_1d, u0_1d)
        u = p.solve({"u0": torch.from_numpy(u0)[None]})["u"][0].numpy()
        for i, t in enumerate(p.times()):
            e1 = _heat_exact(x, t, 0.01)
            exact = e1 if ndim == 1 else np.outer(e1, e1)
            errors.append((n, np.abs(u[i] - exact).max()))
    per_size = [max(e for m, e in errors if m == n) for n in sizes]
    return _result(f"heat_{ndim}d", "space", sizes, per_size, algebraic=False)


# --- Burgers: Cole-Hopf, phi = a + exp(-4 pi^2 nu t) cos(2 pi x), u = -2 nu phi_x / phi ---------
def burgers_exact(x: np.ndarray, t: float, nu: float, a: float = 1.2) -> np.ndarray:
    g = math.exp(-4 * math.pi**2 * nu * t)
    return 4 * math.pi * nu * g * np.sin(2 * math.pi * x) / (a + g * np.cos(2 * math.pi * x))


def _burgers_error(n: int, dt: float, nu: float = 0.05, t_final: float = 0.5) -> float:
    p = get_problem("burgers_1d").from_params(
        n, {"nu": nu, "t_final": t_final, "nt": 3, "dt": dt, "solve_resolution": n})
    x = np.arange(n) / n
    u = p.solve({"u0": torch.from_numpy(burgers_exact(x, 0.0, nu))[None]})["u"][0].numpy()
    return max(np.abs(u[i] - burgers_exact(x, t, nu)).max() for i, t in enumerate(p.times()))


def burgers_space(sizes=(8, 16, 32, 64)) -> dict:
    return _result("burgers_1d", "space", sizes, [_burgers_error(n, 1e-3) for n in sizes], algebraic=False)


def burgers_time(steps=(10, 20, 40, 80)) -> dict:
    t_final = 0.5
    return _result("burgers_1d", "time", steps, [_burgers_error(256, t_final / s / 2) for s in steps])


# --- Navier-Stokes: Taylor-Green (exact) and self-convergence with forcing -----------------------
def navier_stokes_taylor_green(n: int = 32, dt: float = 0.05, nu: float = 1e-2) -> float:
    p = get_problem("navier_stokes_2d").from_params(
        n, {"nu": nu, "t_final": 2.0, "nt": 5, "dt": dt, "solve_resolution": n, "forcing_amplitude": 0.0})
    x = torch.arange(n, dtype=torch.float64) / n
    shape = torch.sin(2 * math.pi * x)[:, None] * torch.sin(2 * math.pi * x)[None, :]
    w = p.solve({"w0": shape[None]})["vorticity"][0]
    exact = torch.stack([shape * math.exp(-8 * math.pi**2 * nu * t) for t in p.times()])
    return float((w - exact).abs().max())


def _ns_initial(n: int) -> torch.Tensor:
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    s = 2 * math.pi
    return torch.sin(s * X) * torch.cos(2 * s * Y) + 0.5 * torch.cos(s * (X + Y)) + 0.3 * torch.sin(3 * s * Y)


def _ns_solve(n: int, dt: float, t_final: float = 1.0) -> torch.Tensor:
    p = get_problem("navier_stokes_2d").from_params(
        n, {"nu": 1e-3, "t_final": t_final, "nt": 2, "dt": dt, "solve_resolution": n})
    return p.solve({"w0": _ns_initial(n)[None]})["vorticity"][0, -1]


def navier_stokes_time(steps=(10, 20, 40, 80)) -> dict:
    ref = _ns_solve(64, 1.0 / 640)
    return _result("navier_stokes_2d", "time", steps,
                   [float((_ns_solve(64, 1.0 / s) - ref).abs().max()) for s in steps])


def navier_stokes_space(sizes=(16, 24, 32, 48)) -> dict:
    ref = _ns_solve(96, 0.01)
    errors = []
    for n in sizes:
        w = _ns_solve(n, 0.01)
        # compare on the points the grids share: x = j / gcd grid
        step_ref, step = 96 // math.gcd(96, n), n // math.gcd(96, n)
        errors.append(float((w[::step, ::step] - ref[::step_ref, ::step_ref]).abs().max()))
    return _result("navier_stokes_2d", "space", sizes, errors, algebraic=False)


# --- Darcy: manufactured solutions ----------------------------------------------------------------
def _darcy_error(n: int, a_fn: Callable, u_fn: Callable, f_fn: Callable) -> float:
    p = get_problem("darcy_2d").from_params(n, {"solve_resolution": n})
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    X, Y = torch.meshgrid(x, x, indexing="ij")
    u = p.solve({"a": a_fn(X, Y)[None], "f": f_fn(X, Y)[None]})["u"][0]
    return float((u - u_fn(X, Y)).abs().max())


def darcy_smooth(sizes=(17, 33, 65, 129, 257)) -> dict:
    pi = math.pi

    def a_fn(X, Y):
        return 2 + torch.sin(2 * pi * X) * torch.cos(3 * pi * Y)

    def u_fn(X, Y):
        return torch.sin(pi * X) * torch.sin(2 * pi * Y)

    def f_fn(X, Y):  # -div(a grad u) by automatic differentiation of the exact functions
        X = X.clone().requires_grad_(True)
        Y = Y.clone().requires_grad_(True)
        u = u_fn(X, Y)
        ux, uy = torch.autograd.grad(u.sum(), (X, Y), create_graph=True)
        a = a_fn(X, Y)
        qx = torch.autograd.grad((a * ux).sum(), X, retain_graph=True)[0]
        qy = torch.autograd.grad((a * uy).sum(), Y)[0]
        return -(qx + qy).detach()

    return _result("darcy_2d", "space (smooth a)", sizes, [_darcy_error(n, a_fn, u_fn, f_fn) for n in sizes], cells=True)


def darcy_piecewise(sizes=(16, 32, 64, 128, 256), a1: float = 3.0, a2: float = 12.0) -> dict:
    """a = a1 for x < 1/2, a2 beyond; u = sin(2 pi x) sin(pi y) / a has a continuous flux and
    f = 5 pi^2 sin(2 pi x) sin(pi y). Odd n - 1 puts the interface midway between nodes."""
    pi = math.pi

    def a_fn(X, Y):
        return torch.where(X < 0.5, a1, a2)

    def u_fn(X, Y):
        return torch.sin(2 * pi * X) * torch.sin(pi * Y) / a_fn(X, Y)

    def f_fn(X, Y):
        return 5 * pi**2 * torch.sin(2 * pi * X) * torch.sin(pi * Y)

    return _result("darcy_2d", f"space (piecewise a, contrast {a2 / a1:g})", sizes,
                   [_darcy_error(n, a_fn, u_fn, f_fn) for n in sizes], cells=True)
