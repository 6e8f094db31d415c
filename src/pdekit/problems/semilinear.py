"""Shared machinery of the 1D periodic problems u_t = L u + N(u): pseudo-spectral in space, ETDRK4
in time (Kuramoto-Sivashinsky, Allen-Cahn, diffusion-reaction, KdV).

A subclass gives the Fourier symbol of its linear part and its nonlinear term; the solver and the
residual both use them, so the residual of the solver's own output measures only time-stepping
and resolution error. Registers no problem itself.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from pdekit.errors import UnstableError
from pdekit.numerics import spectral
from pdekit.numerics.etdrk4 import ETDRK4, integrate
from pdekit.problems.base import Problem


class PeriodicSemilinear1D(Problem):
    """Base class of the 1D periodic problems u_t = L u + N(u) on [x_min, x_min + length): subclasses
    give the Fourier symbol of L (``linear``) and N (``nonlinear``). Pseudo-spectral in space with
    2/3 dealiasing of N, ETDRK4 in time after an optional spin-up (``config.spinup``); input u0,
    stores u (nt, x)."""

    ndim = 1
    time_dependent = True
    periodic = True
    # a solution whose max |u| exceeds growth_limit * (max |u0| + 1) is taken for a blow-up
    growth_limit: ClassVar[float] = 10.0

    def solve_points(self) -> np.ndarray:
        """The solve grid's points x_j = x_min + length j / n, j = 0 .. n - 1 (n = solve_resolution), (n,)."""
        n = self.solve_resolution
        return self.x_min + self.length * np.arange(n) / n

    # --- to implement ------------------------------------------------------------------------
    def linear(self, k: torch.Tensor) -> torch.Tensor:
        """Fourier symbol of the linear part on the rfft angular wavenumbers ``k``."""
        raise NotImplementedError

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """rfft coefficients of N(u) for the grid values ``u`` (batch, n)."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------
    def _length(self, values, like: torch.Tensor) -> "float | torch.Tensor":
        """The domain length: each sample's own, (batch, 1), from ``values`` where the config draws it
        per sample (``varying`` names ``length`` and ``length_max`` is set), else the config's one value."""
        return self.param(values, "length", like) if "length" in self.varying else self.length

    def _stepper(self, n: int, device, length: "float | torch.Tensor") -> ETDRK4:
        k = spectral.wavenumbers(n, length, real=True, device=device)  # (batch, n // 2 + 1) for per-sample lengths
        mask = spectral.dealias_mask(n, 1, device=device)
        return ETDRK4(self.linear(k), lambda v: mask * self.nonlinear(torch.fft.irfft(v, n=n), k))

    def _integrate(self, v: torch.Tensor, n: int, times: list[float], u_max: float,
                   length: "float | torch.Tensor") -> list[torch.Tensor]:
        """rfft coefficients ``v`` (batch, n // 2 + 1) of a state on n points, integrated to
        ``times`` on a domain of ``length`` (one, or (batch, 1)), with a check that u stays within
        growth_limit * (u_max + 1)."""
        c = self.config
        stepper = self._stepper(n, v.device, length)
        bound = self.growth_limit * (u_max + 1.0)

        def check(v, t):
            u_max = float(torch.fft.irfft(v, n=n).abs().max())
            if not math.isfinite(u_max) or u_max > bound:
                raise UnstableError(
                    f"{self.name} blew up by t = {t:g} (max|u| {u_max:.3g}): reduce dt = {c.dt:g} "
                    f"or raise solve_resolution = {n}"
                )

        return integrate(stepper, v, times, c.dt, check)

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u0 = inputs["u0"].to(torch.float64)
        n, u_max, length = u0.shape[-1], float(u0.abs().max()), self._length(inputs, u0)
        v = torch.fft.rfft(u0)
        spinup = float(getattr(self.config, "spinup", 0.0))
        if spinup > 0:  # a transient discarded before t = 0
            v = self._integrate(v, n, [0.0, spinup], u_max, length)[-1]
        states = self._integrate(v, n, self.times(), u_max, length)
        return {"u": torch.stack([torch.fft.irfft(s, n=n) for s in states], dim=1)}

    def advance(self, fields: dict[str, torch.Tensor], times: list[float]) -> dict[str, list[torch.Tensor]]:
        u = fields["u"].to(torch.float64)
        n, length = u.shape[-1], self._length(fields, u)
        states = self._integrate(torch.fft.rfft(u), n, times, float(u.abs().max()), length)
        return {"u": [torch.fft.irfft(s, n=n) for s in states]}

    def residual(self, fields, inputs=None):
        """u_t - L u - N(u) of a stored trajectory (batch, nt, x): spectral in x, second-order
        differences in t; each sample's own length where ``inputs`` holds it (batch,)."""
        u = fields["u"].to(torch.float64)
        n = u.shape[-1]
        k = spectral.wavenumbers(n, self._length(inputs or {}, u), real=True, device=u.device)
        u_t = self.time_derivative(u)
        return u_t - torch.fft.irfft(self.linear(k) * torch.fft.rfft(u) + self.nonlinear(u, k), n=n)
