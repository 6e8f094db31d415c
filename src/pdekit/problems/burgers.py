"""Viscous Burgers' equation u_t + u u_x = nu u_xx on the periodic unit interval (FNO setup)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import param, require
from pdekit.errors import UnstableError
from pdekit.numerics import random_fields, spectral
from pdekit.numerics.etdrk4 import ETDRK4, integrate
from pdekit.problems.base import Problem, check_courant, common_time_checks, register, require_even_grid


@dataclass(frozen=True)
class BurgersConfig:
    nu: float = param(0.1, "viscosity")
    t_final: float = param(1.0, "final time")
    nt: int = param(2, "stored time points, t = 0 and t = t_final included")
    dt: float = param(1e-3, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(8192, "points of the grid the solver runs on (the stored grid divides it)")
    ic_scale: float = param(25.0, "initial condition N(0, ic_scale^2 (-Laplacian + ic_tau^2 I)^-ic_alpha)")
    ic_tau: float = param(5.0, "initial condition: inverse length scale tau")
    ic_alpha: float = param(2.0, "initial condition: smoothness exponent alpha")

    def validate(self) -> None:
        common_time_checks(self)
        require_even_grid(self.solve_resolution, 8)
        require(self.ic_alpha > 0.5 and self.ic_tau > 0, "ic_alpha must exceed 0.5 and ic_tau be positive")


@register
class Burgers1D(Problem):
    name = "burgers_1d"
    summary = "u_t + u u_x = nu u_xx, periodic [0, 1); GRF initial condition; pseudo-spectral + ETDRK4"
    Config = BurgersConfig
    ndim = 1
    time_dependent = True
    min_resolution = 8
    default_resolution = 1024
    input_modes = 4095  # those the default 8192-point solve grid resolves

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        std = lambda k: c.ic_scale * (4 * math.pi**2 * k**2 + c.ic_tau**2) ** (-c.ic_alpha / 2)  # noqa: E731
        return {"u0": random_fields.periodic_1d(rng, self.solve_resolution, std, self.input_modes)}

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, n = self.config, self.solve_resolution
        u0 = inputs["u0"].to(torch.float64)
        u_max0 = float(u0.abs().max())
        check_courant(self.name, c.dt, u_max0, c.nu, n, "for this initial condition")
        k = spectral.wavenumbers(n, real=True, device=u0.device)
        half_ik = -0.5j * k * spectral.dealias_mask(n, 1, device=u0.device)

        def nonlinear(v):
            u = torch.fft.irfft(v, n=n)
            return half_ik * torch.fft.rfft(u * u)

        def check(v, t):
            u_max = float(torch.fft.irfft(v, n=n).abs().max())
            if not math.isfinite(u_max) or u_max > 2 * u_max0 + 1e-12:
                raise UnstableError(
                    f"burgers_1d blew up by t = {t:g} (max|u| {u_max0:.3g} -> {u_max:.3g}, where Burgers "
                    f"obeys a maximum principle): reduce dt = {c.dt:g} or raise solve_resolution = {n}"
                )

        states = integrate(ETDRK4(-c.nu * k**2, nonlinear), torch.fft.rfft(u0), self.times(), c.dt, check)
        return {"u": torch.stack([torch.fft.irfft(v, n=n) for v in states], dim=1)}

    def residual(self, fields, inputs=None):
        """u_t + u u_x - nu u_xx of a stored trajectory (batch, nt, x): spectral in x, second-order
        differences in t."""
        u = fields["u"].to(torch.float64)
        t = torch.as_tensor(self.times(), dtype=torch.float64, device=u.device)
        u_t = torch.gradient(u, spacing=(t,), dim=1)[0]
        return u_t + u * spectral.derivative(u, 1, 0) - self.config.nu * spectral.derivative(u, 1, 0, order=2)
