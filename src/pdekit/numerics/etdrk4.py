"""ETDRK4 (Cox and Matthews 2002) for v' = L v + N(v) with diagonal L, in Fourier space.

The phi-function coefficients are evaluated with the contour integral of Kassam and Trefethen
(2005), which stays accurate where L h is near zero and where it is large and negative.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

_CONTOUR_POINTS = 64
# entries of L evaluated at once: the contour multiplies their memory by _CONTOUR_POINTS, which for
# a per-sample L (batch, modes) would otherwise reach gigabytes
_CHUNK = 1 << 15


def _coefficients(lin: torch.Tensor, h: float):
    """Return E, E/2, Q, f1, f2, f3 for step h; complex L kept complex, real L made real."""
    if lin.numel() > _CHUNK:  # entry by entry the same numbers, in pieces
        parts = [_coefficients(part, h) for part in lin.reshape(-1).split(_CHUNK)]
        return tuple(torch.cat(pieces).reshape(lin.shape) for pieces in zip(*parts))
    lh = lin.to(torch.complex128) * h
    j = torch.arange(1, _CONTOUR_POINTS + 1, dtype=torch.float64, device=lin.device)
    roots = torch.exp(1j * math.pi * (j - 0.5) / (_CONTOUR_POINTS / 2))  # full unit circle
    z = lh.unsqueeze(-1) + roots
    ez = torch.exp(z)
    q = h * ((torch.exp(z / 2) - 1) / z).mean(-1)
    f1 = h * ((-4 - z + ez * (4 - 3 * z + z**2)) / z**3).mean(-1)
    f2 = h * ((2 + z + ez * (z - 2)) / z**3).mean(-1)
    f3 = h * ((-4 - 3 * z - z**2 + ez * (4 - z)) / z**3).mean(-1)
    e, e2 = torch.exp(lh), torch.exp(lh / 2)
    coeffs = (e, e2, q, f1, f2, f3)
    if not lin.is_complex():
        coeffs = tuple(c.real for c in coeffs)
    return coeffs


class ETDRK4:
    """Fourth-order exponential time differencing Runge-Kutta for a diagonal linear part.

    Integrates v' = L v + N(v) (Cox and Matthews 2002): the linear part exactly, the nonlinear one by
    a fourth-order Runge-Kutta scheme, with the phi-function coefficients evaluated by the contour
    integral of Kassam and Trefethen (2005). The coefficients are computed once per step size and
    cached.

    Parameters
    ----------
    lin : torch.Tensor
        The diagonal of L, in Fourier space (for example on the rfft wavenumbers, (n // 2 + 1,)),
        real or complex; broadcast against the state.
    nonlinear : callable
        ``nonlinear(v) -> N(v)``: the nonlinear term in Fourier space, shaped like ``v``.
    """

    def __init__(self, lin: torch.Tensor, nonlinear: Callable[[torch.Tensor], torch.Tensor]):
        self.lin = lin
        self.nonlinear = nonlinear
        self._cache: dict[float, tuple] = {}

    def step(self, v: torch.Tensor, h: float) -> torch.Tensor:
        """One ETDRK4 step.

        Parameters
        ----------
        v : torch.Tensor
            The state in Fourier space, for example (batch, n // 2 + 1), broadcastable with ``lin``.
        h : float
            The step size.

        Returns
        -------
        torch.Tensor
            The state at t + h, shaped like ``v``.
        """
        if h not in self._cache:
            self._cache[h] = _coefficients(self.lin, h)
        e, e2, q, f1, f2, f3 = self._cache[h]
        nv = self.nonlinear(v)
        a = e2 * v + q * nv
        na = self.nonlinear(a)
        b = e2 * v + q * na
        nb = self.nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = self.nonlinear(c)
        return e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc


# Largest advective Courant number dt * max|u| * k_eff at which ETDRK4 stayed stable and accurate in
# our sweeps of Burgers (it failed near 9.5; docs/solvers.md). k_eff counts only the modes that
# diffusion does not damp within a step, so strongly viscous problems may take larger steps.
STABLE_COURANT = 3.0


def advective_courant(dt: float, u_max: float, nu: float, n: int, length: float = 1.0) -> float:
    """dt times the fastest advective rate among resolved modes that diffusion leaves undamped."""
    k_max = 2 * math.pi / length * (n / 3)
    k_eff = min(k_max, max(2 * math.pi / length, u_max / nu, math.sqrt(1.0 / (nu * dt))))
    return dt * u_max * k_eff


def integrate(
    stepper,
    v0: torch.Tensor,
    times: list[float],
    dt: float,
    check: Callable[[torch.Tensor, float], None] | None = None,
) -> list[torch.Tensor]:
    """States at ``times`` (ascending, times[0] the initial time), with steps of at most ``dt``.

    Each interval is split into equal steps so the snapshots land exactly on the requested times.
    ``check(v, t)`` runs after every interval (for example to detect an instability).
    """
    out = [v0]
    v = v0
    for t0, t1 in zip(times[:-1], times[1:]):
        steps = max(1, math.ceil((t1 - t0) / dt - 1e-9))
        h = (t1 - t0) / steps
        for _ in range(steps):
            v = stepper.step(v, h)
        if check is not None:
            check(v, t1)
        out.append(v)
    return out
