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
    """Spectral convergence of heat_1d / heat_2d against the exact Fourier series of
    u0 = 1 / (1.5 + cos 2 pi x) (its tensor product in 2D), nu = 0.01, max error over t in [0, 1].

    Parameters
    ----------
    ndim : int
        1 or 2.
    sizes : sequence of int
        Grid points per dimension.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
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
    """A periodic exact solution of Burgers' equation by Cole-Hopf: u = -2 nu phi_x / phi with
    phi = a + exp(-4 pi^2 nu t) cos(2 pi x).

    Parameters
    ----------
    x : numpy.ndarray
        Points in [0, 1).
    t : float
        Time.
    nu : float
        Viscosity.
    a : float
        The constant of phi (> 1, so that phi stays positive).

    Returns
    -------
    numpy.ndarray
        u at the points, shaped like ``x``.
    """
    g = math.exp(-4 * math.pi**2 * nu * t)
    return 4 * math.pi * nu * g * np.sin(2 * math.pi * x) / (a + g * np.cos(2 * math.pi * x))


def _burgers_error(n: int, dt: float, nu: float = 0.05, t_final: float = 0.5) -> float:
    p = get_problem("burgers_1d").from_params(
        n, {"nu": nu, "t_final": t_final, "nt": 3, "dt": dt, "solve_resolution": n})
    x = np.arange(n) / n
    u = p.solve({"u0": torch.from_numpy(burgers_exact(x, 0.0, nu))[None]})["u"][0].numpy()
    return max(np.abs(u[i] - burgers_exact(x, t, nu)).max() for i, t in enumerate(p.times()))


def burgers_space(sizes=(8, 16, 32, 64)) -> dict:
    """Spectral convergence of burgers_1d in space against ``burgers_exact`` (nu = 0.05, t to 0.5,
    dt = 1e-3).

    Parameters
    ----------
    sizes : sequence of int
        Grid points.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    return _result("burgers_1d", "space", sizes, [_burgers_error(n, 1e-3) for n in sizes], algebraic=False)


def burgers_time(steps=(10, 20, 40, 80)) -> dict:
    """ETDRK4's order in time on burgers_1d against ``burgers_exact`` (n = 256, nu = 0.05, T = 0.5).

    Parameters
    ----------
    steps : sequence of int
        Steps per stored interval (t = 0.25 and 0.5 are stored: twice as many steps in all).

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    t_final = 0.5
    return _result("burgers_1d", "time", steps, [_burgers_error(256, t_final / s / 2) for s in steps])


# --- Navier-Stokes: Taylor-Green (exact) and self-convergence with forcing -----------------------
def navier_stokes_taylor_green(n: int = 32, dt: float = 0.05, nu: float = 1e-2) -> float:
    """Max error of navier_stokes_2d (no forcing) on the Taylor-Green vortex
    w = sin(2 pi x) sin(2 pi y) exp(-8 pi^2 nu t), an exact steady-shape solution, up to t = 2.

    Parameters
    ----------
    n : int
        Grid points per dimension.
    dt : float
        Time step.
    nu : float
        Viscosity.

    Returns
    -------
    float
        The max-norm error over the stored times.
    """
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
    """Self-convergence in time of forced navier_stokes_2d (64 x 64, nu = 1e-3, T = 1) against a
    solution with dt = 1 / 640.

    Parameters
    ----------
    steps : sequence of int
        Step counts up to T = 1.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    ref = _ns_solve(64, 1.0 / 640)
    return _result("navier_stokes_2d", "time", steps,
                   [float((_ns_solve(64, 1.0 / s) - ref).abs().max()) for s in steps])


def navier_stokes_space(sizes=(16, 24, 32, 48)) -> dict:
    """Spectral convergence in space of forced navier_stokes_2d (nu = 1e-3, T = 1, dt = 0.01) against
    a 96 x 96 solution, compared on the points the grids share.

    Parameters
    ----------
    sizes : sequence of int
        Grid points per dimension.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
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
    """Second-order convergence of darcy_2d on a manufactured solution: a = 2 + sin(2 pi x) cos(3 pi y),
    u = sin(pi x) sin(2 pi y), f = -div(a grad u) by automatic differentiation.

    Parameters
    ----------
    sizes : sequence of int
        Nodes per side, boundary included.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
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
    f = 5 pi^2 sin(2 pi x) sin(pi y). ``sizes``: nodes per side. Even ones (odd cell counts) put
    the interface midway between nodes, where the harmonic face average is exact: second order;
    odd ones put it through nodes: first order, as for an interface anywhere else (the
    thresholded random coefficients of the data have interfaces everywhere)."""
    pi = math.pi

    def a_fn(X, Y):
        return torch.where(X < 0.5, a1, a2)

    def u_fn(X, Y):
        return torch.sin(2 * pi * X) * torch.sin(pi * Y) / a_fn(X, Y)

    def f_fn(X, Y):
        return 5 * pi**2 * torch.sin(2 * pi * X) * torch.sin(pi * Y)

    return _result("darcy_2d", f"space (piecewise a, contrast {a2 / a1:g})", sizes,
                   [_darcy_error(n, a_fn, u_fn, f_fn) for n in sizes], cells=True)


def darcy_tensor_smooth(sizes=(17, 33, 65, 129, 257)) -> dict:
    """Second-order convergence of darcy_tensor_2d on a manufactured solution with a full tensor:
    k11 = 2 + sin(3 x) cos(y), k12 = 0.6 sin(x + 2 y), k22 = 1.5 + 0.5 cos(2 x + y),
    u = exp(x) sin(pi x) sin(2 pi y), f = -div(K grad u) by automatic differentiation; ``sizes``:
    nodes per side, boundary included. Returns the study (see the module docstring)."""
    def coefficients(X, Y):
        return (2 + torch.sin(3 * X) * torch.cos(Y), 0.6 * torch.sin(X + 2 * Y), 1.5 + 0.5 * torch.cos(2 * X + Y))

    def u_fn(X, Y):
        return torch.exp(X) * torch.sin(math.pi * X) * torch.sin(2 * math.pi * Y)

    errors = []
    for n in sizes:
        p = get_problem("darcy_tensor_2d").from_params(n, {"solve_resolution": n})
        x = torch.linspace(0, 1, n, dtype=torch.float64)
        X, Y = (t.requires_grad_(True) for t in torch.meshgrid(x, x, indexing="ij"))
        k11, k12, k22 = coefficients(X, Y)
        ux, uy = torch.autograd.grad(u_fn(X, Y).sum(), (X, Y), create_graph=True)
        qx = torch.autograd.grad((k11 * ux + k12 * uy).sum(), X, retain_graph=True)[0]
        qy = torch.autograd.grad((k12 * ux + k22 * uy).sum(), Y)[0]
        inputs = {"k11": k11, "k12": k12, "k22": k22, "f": -(qx + qy)}
        u = p.solve({name: value.detach()[None] for name, value in inputs.items()})["u"][0]
        errors.append(float((u - u_fn(X, Y).detach()).abs().max()))
    return _result("darcy_tensor_2d", "space (smooth full tensor K)", sizes, errors, cells=True)


# --- 1D semilinear problems (ETDRK4): exact solutions where they exist, else self-convergence ---
def _final(name: str, n: int, params: dict, u0: np.ndarray | torch.Tensor) -> torch.Tensor:
    p = get_problem(name).from_params(n, {"solve_resolution": n, "nt": 2, **params})
    u0 = torch.as_tensor(u0, dtype=torch.float64)
    return p.solve({"u0": u0[None]})["u"][0, -1]


def _self_time(name: str, n: int, params: dict, u0, horizon: float, steps) -> list[float]:
    """Max error at ``horizon`` for each step count, against 16 times the finest."""
    run = lambda s: _final(name, n, {**params, "t_final": horizon, "dt": horizon / s}, u0)  # noqa: E731
    ref = run(16 * steps[-1])
    return [float((run(s) - ref).abs().max()) for s in steps]


def _self_space(name: str, sizes, fine: int, params: dict, u0_fn: Callable[[np.ndarray], np.ndarray],
                x_min: float = 0.0, length: float = 1.0) -> list[float]:
    """Max error on the coarsest grid's points (every size a multiple of it) against a
    ``fine``-grid solution (same dt)."""
    grid = lambda n: x_min + length * np.arange(n) / n  # noqa: E731
    ref = _final(name, fine, params, u0_fn(grid(fine)))
    errors = []
    for n in sizes:
        u = _final(name, n, params, u0_fn(grid(n)))
        errors.append(float((u[:: n // sizes[0]] - ref[:: fine // sizes[0]]).abs().max()))
    return errors


def ks_attractor_state(n: int = 64, length: float = 22.0) -> np.ndarray:
    """A state on the Kuramoto-Sivashinsky attractor: sample 0 after the default spin-up."""
    from pdekit.numerics.random_fields import sample_rng

    p = get_problem("kuramoto_sivashinsky_1d").from_params(n, {"solve_resolution": n, "length": length,
                                                              "t_final": 1.0, "nt": 2})
    return p.solve({"u0": torch.from_numpy(p.sample_inputs(sample_rng(0, 0))["u0"])[None]})["u"][0, 0].numpy()


def ks_time(steps=(80, 160, 320, 640), horizon: float = 5.0) -> dict:
    """Self-convergence over a short horizon from a state on the chaotic attractor (L = 22)."""
    errors = _self_time("kuramoto_sivashinsky_1d", 64, {"spinup": 0.0}, ks_attractor_state(), horizon, steps)
    return _result("kuramoto_sivashinsky_1d", "time (self-convergence, L = 22, T = 5)", steps, errors)


def ks_space(sizes=(32, 64, 96, 128), fine: int = 384) -> dict:
    """Spectral in space: a smooth state integrated to t = 5 on each grid, against a finer one."""
    u_ref = ks_attractor_state(fine)
    coef = np.fft.rfft(u_ref) / fine  # the same function on every grid: its modes below 16
    u0 = lambda x: np.fft.irfft(np.concatenate([coef[:16], np.zeros(len(x) // 2 + 1 - 16)]) * len(x), n=len(x))  # noqa: E731
    params = {"spinup": 0.0, "t_final": 5.0, "dt": 0.01, "length": 22.0}
    errors = _self_space("kuramoto_sivashinsky_1d", sizes, fine, params, lambda x: u0(x), length=22.0)
    return _result("kuramoto_sivashinsky_1d", "space (L = 22, T = 5)", sizes, errors, algebraic=False)


def allen_cahn_time(steps=(25, 50, 100, 200)) -> dict:
    """Self-convergence of the standard case (u0 = x^2 cos(pi x), eps = 1e-4) to t = 1 at n = 512."""
    x = -1 + 2 * np.arange(512) / 512
    errors = _self_time("allen_cahn_1d", 512, {}, x**2 * np.cos(np.pi * x), 1.0, steps)
    return _result("allen_cahn_1d", "time (self-convergence, standard case, T = 1)", steps, errors)


def allen_cahn_space(sizes=(256, 512, 1024), fine: int = 4096) -> dict:
    """The standard case to t = 1 on each grid, against a 4096-point solution (dt = 1e-3)."""
    errors = _self_space("allen_cahn_1d", sizes, fine, {"t_final": 1.0, "dt": 1e-3},
                         lambda x: x**2 * np.cos(np.pi * x), x_min=-1.0, length=2.0)
    return _result("allen_cahn_1d", "space (standard case, T = 1)", sizes, errors, algebraic=False)


def advection_exact(sizes=(32, 64, 1024), beta: float = 0.4, t: float = 2.0) -> dict:
    """The Fourier shift against u0(x - beta t) for a sum of sines: exact to rounding."""
    u0 = lambda x: np.sin(2 * np.pi * 3 * x + 0.3) + 0.5 * np.sin(2 * np.pi * 7 * x + 1.1)  # noqa: E731
    errors = []
    for n in sizes:
        x = np.arange(n) / n
        u = _final("advection_1d", n, {"beta": beta, "t_final": t}, u0(x))
        errors.append(float(np.abs(u.numpy() - u0(x - beta * t)).max()))
    return _result("advection_1d", f"exact shift (beta = {beta:g}, t = {t:g})", sizes, errors, algebraic=False)


def logistic_exact(u0: float, rho: float, t: float) -> float:
    """The solution of the logistic ODE u' = rho u (1 - u), u(0) = u0, at time t.

    Parameters
    ----------
    u0 : float
        The initial value.
    rho : float
        The growth rate.
    t : float
        The time.

    Returns
    -------
    float
        u0 e^(rho t) / (1 - u0 + u0 e^(rho t)).
    """
    e = math.exp(rho * t)
    return u0 * e / (1 - u0 + u0 * e)


def diffusion_reaction_time(steps=(5, 10, 20, 40), rho: float = 5.0, t_final: float = 1.0) -> dict:
    """A constant state follows the logistic ODE exactly: ETDRK4 against its closed form."""
    errors = []
    for s in steps:
        u = _final("diffusion_reaction_1d", 16, {"rho": rho, "t_final": t_final, "dt": t_final / s}, np.full(16, 0.1))
        errors.append(float((u - logistic_exact(0.1, rho, t_final)).abs().max()))
    return _result("diffusion_reaction_1d", f"time (logistic exact solution, rho = {rho:g})", steps, errors)


def diffusion_reaction_space(sizes=(16, 32, 48, 64), fine: int = 256) -> dict:
    """A smooth initial condition (nu = 0.01, rho = 5) to t = 1 on each grid, against a finer one."""
    u0 = lambda x: 0.5 + 0.4 * np.sin(2 * np.pi * x) * np.cos(4 * np.pi * x + 0.2)  # noqa: E731
    errors = _self_space("diffusion_reaction_1d", sizes, fine, {"nu": 0.01, "rho": 5.0, "t_final": 1.0, "dt": 1e-3}, u0)
    return _result("diffusion_reaction_1d", "space (nu = 0.01, rho = 5, T = 1)", sizes, errors, algebraic=False)


def kdv_soliton(x: np.ndarray, t: float, speed: float = 1.0, x0: float = 32.0, length: float = 128.0) -> np.ndarray:
    """u = 3 c sech^2(sqrt(c) / 2 (x - x0 - c t)), a solution of u_t + u u_x + u_xxx = 0; on a domain
    of length 128 its tails are below 1e-25, so it is a periodic solution to rounding."""
    xi = (x - x0 - speed * t + length / 2) % length - length / 2
    return 3 * speed / np.cosh(math.sqrt(speed) / 2 * xi) ** 2


def _kdv_error(n: int, dt: float, t_final: float = 10.0) -> float:
    x = 128.0 * np.arange(n) / n
    u = _final("kdv_1d", n, {"t_final": t_final, "dt": dt}, kdv_soliton(x, 0.0))
    return float(np.abs(u.numpy() - kdv_soliton(x, t_final)).max())


def kdv_time(steps=(100, 200, 400, 800), t_final: float = 10.0) -> dict:
    """ETDRK4's order in time on kdv_1d against the exact soliton (c = 1, n = 512).

    Parameters
    ----------
    steps : sequence of int
        Step counts up to ``t_final``.
    t_final : float
        The final time.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    return _result("kdv_1d", "time (exact soliton, c = 1, T = 10)", steps, [_kdv_error(512, t_final / s) for s in steps])


def kdv_space(sizes=(128, 192, 256, 384, 512)) -> dict:
    """Spectral convergence in space of kdv_1d against the exact soliton (c = 1, T = 10, dt = 0.01).

    Parameters
    ----------
    sizes : sequence of int
        Grid points.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    return _result("kdv_1d", "space (exact soliton, c = 1, T = 10)", sizes, [_kdv_error(n, 0.01) for n in sizes],
                   algebraic=False)


# --- wave: exact Fourier solution, Stormer-Verlet second order; energy stays within O(dt^2) ---
def _wave_run(n: int, dt: float, t_final: float, c: float = 1.0):
    p = get_problem("wave_2d").from_params(n, {"t_final": t_final, "nt": 11, "dt": dt, "c": c})
    s = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(s, s, indexing="ij")
    u0 = torch.sin(X) * torch.cos(2 * Y) + 0.5 * torch.cos(3 * X + Y)
    out = p.solve({"u0": u0[None], "v0": torch.zeros_like(u0)[None]})
    omega1, omega2 = 2 * math.pi * c * math.sqrt(5), 2 * math.pi * c * math.sqrt(10)  # c |k| of the two modes
    exact = torch.stack([torch.sin(X) * torch.cos(2 * Y) * math.cos(omega1 * t)
                         + 0.5 * torch.cos(3 * X + Y) * math.cos(omega2 * t) for t in p.times()])
    return p, out, exact


def wave_time(steps=(50, 100, 200, 400), t_final: float = 1.0, c: float = 1.0) -> dict:
    """Second order in time of wave_2d's Stormer-Verlet against the exact solution of two standing
    modes (16 x 16 grid, zero initial velocity) at wave speed ``c``.

    Parameters
    ----------
    steps : sequence of int
        Step counts up to ``t_final``.
    t_final : float
        The final time.
    c : float
        The wave speed.

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    errors = []
    for s in steps:
        _, out, exact = _wave_run(16, t_final / s, t_final, c)
        errors.append(float((out["u"][0] - exact).abs().max()))
    return _result("wave_2d", "time (exact solution, T = 1)", steps, errors)


def wave_energy(steps=(50, 100, 200, 400), t_final: float = 1.0) -> dict:
    """Largest relative deviation of the energy from its initial value over the run."""
    errors = []
    for s in steps:
        p, out, _ = _wave_run(16, t_final / s, t_final)
        e = p.energy(out["u"][0], out["v"][0])
        errors.append(float(((e - e[0]) / e[0]).abs().max()))
    return _result("wave_2d", "energy deviation (T = 1)", steps, errors)


# --- lid-driven cavity: a manufactured steady flow --------------------------------------------------
def _cavity_exact(x, y, phase: float = 0.3):
    """u = sin(pi x) cos(pi y + phase), v = -cos(pi x) sin(pi y + phase): divergence-free, with
    tangential wall velocities and (for phase != 0) flow through the walls y = 0, 1; p = cos(pi x) cos(pi y)."""
    a, b = math.pi * x, math.pi * y + phase
    return np.sin(a) * np.cos(b), -np.cos(a) * np.sin(b), np.cos(math.pi * x) * np.cos(math.pi * y)


def cavity_manufactured(sizes=(16, 32, 64), quantity: str = "velocity", re: float = 50.0) -> dict:
    """Second-order convergence of the staggered Navier-Stokes solver of cavity_2d on the
    manufactured flow of ``_cavity_exact`` at Re = 50 (the forcing that makes it exact computed by
    hand: (u . grad) u = pi (sin a cos a, sin b cos b), lap u = -2 pi^2 u).

    Parameters
    ----------
    sizes : sequence of int
        Cells per side.
    quantity : "velocity" (max-norm error over the u and v faces) or "pressure" (root mean square
        error over the cells, both with zero mean; its max-norm converges more slowly, at the
        corners).

    Returns
    -------
    dict
        The study: ``name``, ``kind``, ``sizes``, ``errors`` and ``order`` (see the module docstring).
    """
    from pdekit.numerics.mac import StaggeredNavierStokes

    pi = math.pi

    def wall(x, y):
        return _cavity_exact(x, y)[:2]

    def force(x, y):
        a, b = pi * x, pi * y + 0.3
        u, v, _ = _cavity_exact(x, y)
        return (pi * np.sin(a) * np.cos(a) + 2 * pi**2 / re * u - pi * np.sin(pi * x) * np.cos(pi * y),
                pi * np.sin(b) * np.cos(b) + 2 * pi**2 / re * v - pi * np.cos(pi * x) * np.sin(pi * y))

    errors = []
    for n in sizes:
        s = StaggeredNavierStokes(n, wall, force).solve(re)
        faces, centres = np.arange(n + 1) / n, (np.arange(n) + 0.5) / n
        if quantity == "velocity":
            u = _cavity_exact(*np.meshgrid(faces, centres, indexing="ij"))[0]
            v = _cavity_exact(*np.meshgrid(centres, faces, indexing="ij"))[1]
            errors.append(max(np.abs(s.u - u).max(), np.abs(s.v - v).max()))
        else:
            p = _cavity_exact(*np.meshgrid(centres, centres, indexing="ij"))[2]
            errors.append(np.sqrt(((s.p - (p - p.mean())) ** 2).mean()))
    return _result("cavity_2d", "space", sizes, errors)


# --- combined_1d (MP-PDE): self-convergence of WENO5 + fourth-order differences -------------------
def combined_space(sizes=(50, 100, 200), fine: int = 800, params: dict | None = None) -> dict:
    """Max error at t_final on the coarsest grid's points against the ``fine``-grid solution of the
    same sample (seed 0, index 0: one forcing drawn once, the same function on every grid), all
    with the fine grid's stable step. Default: alpha = 1, beta = 0.1 (viscous, smooth), t = 1."""
    from pdekit.data.generate import draw_inputs

    base = {"nt": 2, **(params or {"alpha": 1.0, "beta": 0.1, "t_final": 1.0})}
    dt = get_problem("combined_1d").from_params(fine, {**base, "solve_resolution": fine}).time_step(fine)

    def final(n):
        p = get_problem("combined_1d").from_params(n, {**base, "solve_resolution": n, "dt": dt})
        return p.solve(draw_inputs(p, 0, range(1)))["u"][0, -1]

    ref = final(fine)
    errors = [float((final(n)[:: n // sizes[0]] - ref[:: fine // sizes[0]]).abs().max()) for n in sizes]
    return _result("combined_1d", "space", sizes, errors)


def combined_time(steps=(25, 50, 100, 200), n: int = 100, params: dict | None = None) -> dict:
    """SSP-RK3's order: max error at t_final of one sample on ``n`` points with ``steps`` time
    steps (the largest below the stable step) against 16x the finest. Default: alpha = 1,
    beta = 0.1, t = 1 (forced: the forcing is evaluated at the Runge-Kutta stages); u_bound = 2
    (the sample's max |u| is 1.33), for which 25 steps are stable."""
    from pdekit.data.generate import draw_inputs

    base = {"nt": 2, "solve_resolution": n, "u_bound": 2.0,
            **(params or {"alpha": 1.0, "beta": 0.1, "t_final": 1.0})}

    def final(count):
        p = get_problem("combined_1d").from_params(n, {**base, "dt": base["t_final"] / count})
        return p.solve(draw_inputs(p, 0, range(1)))["u"][0, -1]

    ref = final(16 * steps[-1])
    errors = [float((final(k) - ref).abs().max()) for k in steps]
    return _result("combined_1d", "time (SSP-RK3, n = 100)", steps, errors)


# --- poisson_lshape (the PINN benchmark's reference): self-convergence of five-point differences ------
def poisson_lshape_reference(sizes=(16, 32, 64), fine: int = 256, norm: str = "max") -> dict:
    """The L-shape reference's error against h = 1 / ``fine`` at the coarse nodes, in the max norm
    or relative L2 (``norm``: "max" or "l2"). The re-entrant corner's u ~ r^(2/3) sets the orders:
    2/3 pointwise near the corner, 4/3 in L2 (not the 2 of smooth solutions)."""
    from pdekit.problems.poisson_lshape import poisson_l_reference

    ref = poisson_l_reference(fine)[1]
    errors = []
    for n in sizes:
        r = ref[:: fine // n, :: fine // n]
        d = poisson_l_reference(n)[1] - r
        errors.append(np.nanmax(np.abs(d)) if norm == "max" else np.sqrt(np.nansum(d**2) / np.nansum(r**2)))
    return _result("poisson_lshape", f"space ({'max norm' if norm == 'max' else 'relative L2'})", sizes, errors,
                   algebraic=len(sizes) > 1)


# --- obstacle_2d: self-convergence of the stored fields around a polygon body ---------------------
def obstacle_fields(mesh_sizes=(0.06, 0.04, 0.03, 0.02), fine: float = 0.012, shapes: str = "polygon",
                    samples: int = 2) -> dict:
    """{u, v, p: study}: the largest relative L2 over ``samples`` drawn bodies of each field as
    stored (33 nodes across the channel) against the same bodies solved with ``fine``, per
    mesh_size (the mesh away from the body; a sixth of it on the body); the order is that of
    1 / mesh_size. A polygon's corners make the pressure converge slower than the velocity."""
    from pdekit.data.generate import draw_inputs

    def solve(h):
        p = get_problem("obstacle_2d").from_params(33, {"shapes": shapes, "mesh_size": h})
        return p.solve(draw_inputs(p, 0, range(samples)))

    ref, runs = solve(fine), [solve(h) for h in mesh_sizes]
    out = {}
    for name in ref:
        errors = [float(((run[name] - ref[name]).flatten(1).norm(dim=1) / ref[name].flatten(1).norm(dim=1)).max())
                  for run in runs]
        out[name] = {"name": "obstacle_2d", "kind": f"mesh size ({shapes}, {name})", "sizes": list(mesh_sizes),
                     "errors": errors, "order": observed_order([1 / h for h in mesh_sizes], errors)}
    return out
