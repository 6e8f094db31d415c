"""Method-of-lines schemes for the 1D periodic conservation law of MP-PDE's combined equation,

    u_t + d_x(alpha u^2 / 2 - beta u_x + gamma u_xx) = delta(t, x),

batched over samples, each with its own alpha, beta, gamma ((batch, 1) tensors or floats).

- ``"weno5"``: the convective flux by fifth-order WENO (Jiang and Shu 1996: three third-order
  candidate stencils weighted by smoothness, epsilon 1e-6) with Lax-Friedrichs splitting at each
  sample's largest |alpha u|; u_xx and u_xxx by fourth-order central differences. What MP-PDE's
  generator uses for its reference and the classical baseline it compares with at coarse grids.
- ``"fd2"``: second-order central differences for every term (the convective one in conservative
  form), the cheap baseline: oscillates at shocks.

Time by SSP-RK3 (Shu and Osher 1988) with a fixed step (``stable_dt`` bounds it from the largest
coefficients and velocity the caller allows, so a batch's step does not depend on its samples).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from pdekit.errors import ConfigError

SCHEMES = ("weno5", "fd2")
EPSILON = 1e-6  # Jiang-Shu's regularization of the smoothness indicators


def _shift(u: torch.Tensor, k: int) -> torch.Tensor:
    """u_{i+k} at every i (periodic)."""
    return torch.roll(u, -k, dims=-1)


def weno5_interface(vm2, vm1, v0, vp1, vp2):
    """The WENO5 value at the interface right of v0 from the five values around it, ordered in the
    upwind direction (for a left-biased reconstruction at i + 1/2: v_{i-2} .. v_{i+2})."""
    q0 = (2 * vm2 - 7 * vm1 + 11 * v0) / 6
    q1 = (-vm1 + 5 * v0 + 2 * vp1) / 6
    q2 = (2 * v0 + 5 * vp1 - vp2) / 6
    b0 = 13 / 12 * (vm2 - 2 * vm1 + v0) ** 2 + 0.25 * (vm2 - 4 * vm1 + 3 * v0) ** 2
    b1 = 13 / 12 * (vm1 - 2 * v0 + vp1) ** 2 + 0.25 * (vm1 - vp1) ** 2
    b2 = 13 / 12 * (v0 - 2 * vp1 + vp2) ** 2 + 0.25 * (3 * v0 - 4 * vp1 + vp2) ** 2
    a0, a1, a2 = 0.1 / (EPSILON + b0) ** 2, 0.6 / (EPSILON + b1) ** 2, 0.3 / (EPSILON + b2) ** 2
    return (a0 * q0 + a1 * q1 + a2 * q2) / (a0 + a1 + a2)


def convection_weno5(u: torch.Tensor, alpha, dx: float) -> torch.Tensor:
    """d_x(alpha u^2 / 2) at the cells by WENO5 with Lax-Friedrichs splitting (per sample)."""
    f = alpha * u * u / 2
    a = (torch.as_tensor(alpha, dtype=u.dtype, device=u.device).abs() * u.abs()).amax(-1, keepdim=True)
    plus, minus = (f + a * u) / 2, (f - a * u) / 2
    flux = weno5_interface(*(_shift(plus, k) for k in (-2, -1, 0, 1, 2))) \
        + weno5_interface(*(_shift(minus, k) for k in (3, 2, 1, 0, -1)))  # at i + 1/2
    return (flux - _shift(flux, -1)) / dx


def _second(u, dx, scheme):
    if scheme == "fd2":
        return (_shift(u, 1) - 2 * u + _shift(u, -1)) / dx**2
    return (-_shift(u, 2) + 16 * _shift(u, 1) - 30 * u + 16 * _shift(u, -1) - _shift(u, -2)) / (12 * dx**2)


def _third(u, dx, scheme):
    if scheme == "fd2":
        return (_shift(u, 2) - 2 * _shift(u, 1) + 2 * _shift(u, -1) - _shift(u, -2)) / (2 * dx**3)
    return (-_shift(u, 3) + 8 * _shift(u, 2) - 13 * _shift(u, 1) + 13 * _shift(u, -1) - 8 * _shift(u, -2)
            + _shift(u, -3)) / (8 * dx**3)


def rhs(u: torch.Tensor, t: float, alpha, beta, gamma, dx: float, scheme: str = "weno5",
        forcing: Callable | None = None) -> torch.Tensor:
    """u_t = -d_x(alpha u^2 / 2) + beta u_xx - gamma u_xxx + delta(t) on the periodic cells of u
    (batch, n); ``forcing(t)`` returns delta at the cells, (batch, n)."""
    if scheme == "weno5":
        convection = convection_weno5(u, alpha, dx)
    elif scheme == "fd2":
        f = alpha * u * u / 2
        convection = (_shift(f, 1) - _shift(f, -1)) / (2 * dx)
    else:
        raise ConfigError(f"unknown scheme '{scheme}'; choose one of {', '.join(SCHEMES)}")
    out = -convection
    if not _zero(beta):
        out = out + beta * _second(u, dx, scheme)
    if not _zero(gamma):
        out = out - gamma * _third(u, dx, scheme)
    return out if forcing is None else out + forcing(t)


def _zero(c) -> bool:
    return not isinstance(c, torch.Tensor) and c == 0


def stable_dt(dx: float, alpha_max: float, beta_max: float, gamma_max: float, u_max: float,
              scheme: str = "weno5", safety: float = 0.8) -> float:
    """A step SSP-RK3 is stable with for coefficients and |u| up to the given bounds: the sum of
    the rates of the three terms (largest eigenvalue of each difference operator over RK3's
    stability bound along that axis: 1 for WENO's upwinding at Courant number 1, 2.51 on the
    negative real axis, sqrt(3) on the imaginary one), times ``safety``."""
    fourth = scheme != "fd2"
    second = 16 / 3 if fourth else 4.0  # max |symbol| dx^2 of the u_xx stencil
    third = 4.61 if fourth else 2.60  # max |symbol| dx^3 of the u_xxx stencil
    rate = (alpha_max * u_max / dx + beta_max * second / dx**2 / 2.51
            + gamma_max * third / dx**3 / math.sqrt(3))
    return safety / rate if rate > 0 else math.inf


def ssp_rk3(u: torch.Tensor, t0: float, t1: float, dt: float, **terms) -> torch.Tensor:
    """u at t1 from u at t0 by SSP-RK3 in equal steps no longer than dt (``terms``: the keyword
    arguments of ``rhs`` after t)."""
    steps = max(1, math.ceil((t1 - t0) / dt - 1e-9))
    h = (t1 - t0) / steps
    for i in range(steps):
        t = t0 + i * h
        u1 = u + h * rhs(u, t, **terms)
        u2 = 0.75 * u + 0.25 * (u1 + h * rhs(u1, t + h, **terms))
        u = u / 3 + 2 / 3 * (u2 + h * rhs(u2, t + h / 2, **terms))
    return u
