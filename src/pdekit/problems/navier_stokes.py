"""2D incompressible Navier-Stokes in vorticity form on the unit torus (the FNO paper's setup):

    w_t + u . grad(w) = nu Laplacian(w) + f,   u = (psi_y, -psi_x),   -Laplacian(psi) = w,
    f = A (sin(2 pi (x + y)) + cos(2 pi (x + y))).

Pseudo-spectral with 2/3 dealiasing; ETDRK4 in time (viscous term exact, advection explicit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields, spectral
from pdekit.numerics.etdrk4 import ETDRK4, integrate
from pdekit.problems.base import Problem, check_courant, common_time_checks, register, require_even_grid


@dataclass(frozen=True)
class NavierStokesConfig:
    nu: float = param(1e-3, "viscosity (the FNO paper uses 1e-3, 1e-4 and 1e-5)")
    t_final: float = param(50.0, "final time")
    nt: int = param(51, "stored time points, t = 0 and t = t_final included (51: every unit time to 50)")
    dt: float = param(5e-3, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(256, "points per dimension of the solve grid (the stored grid divides it)")
    forcing_amplitude: float = param(0.1, "A in the forcing A (sin(2 pi (x + y)) + cos(2 pi (x + y)))")
    ic_scale: float = param(7.0**1.5, "initial vorticity N(0, ic_scale^2 (-Laplacian + ic_tau^2 I)^-ic_alpha)")
    ic_tau: float = param(7.0, "initial vorticity: inverse length scale tau")
    ic_alpha: float = param(2.5, "initial vorticity: smoothness exponent alpha")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), an even solve_resolution >= 8, ic_alpha > 1, ic_tau > 0 and
        ic_scale > 0."""
        common_time_checks(self)
        require_even_grid(self.solve_resolution, 8)
        limits(self, ic_alpha=(">", 1), ic_tau=(">", 0))
        require(self.ic_scale > 0, f"ic_scale must be positive, got {self.ic_scale}")


@register
class NavierStokes2D(Problem):
    """Incompressible Navier-Stokes in vorticity form, w_t + u . grad(w) = nu Laplacian(w) + f, on the
    unit torus (the FNO setup); input w0, a Gaussian random field, with the fixed forcing f.
    Pseudo-spectral with 2/3 dealiasing, ETDRK4 in time; stores the vorticity (nt, x, y)."""

    name = "navier_stokes_2d"
    conserved = ("mass",)  # the equation is in conservation form on a periodic domain
    summary = "vorticity form on the unit torus, FNO forcing and GRF initial vorticity; pseudo-spectral + ETDRK4"
    Config = NavierStokesConfig
    ndim = 2
    time_dependent = True
    fields = ("vorticity",)
    min_resolution = 8
    default_resolution = 64
    input_modes = 127  # those the default 256 x 256 solve grid resolves

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        # ic_scale multiplies the standard deviation, as sigma = 7^1.5 does in the FNO paper's data code
        std = lambda k2: c.ic_scale * (4 * math.pi**2 * k2 + c.ic_tau**2) ** (-c.ic_alpha / 2)  # noqa: E731
        return {"w0": random_fields.periodic_2d(rng, self.solve_resolution, std, self.input_modes)}

    def forcing(self, n: int, device=None) -> torch.Tensor:
        """The forcing A (sin(2 pi (x + y)) + cos(2 pi (x + y))) on the periodic grid x_j = j / n.

        Parameters
        ----------
        n : int
            Grid points per axis.
        device : torch.device or None
            Where to build it.

        Returns
        -------
        torch.Tensor
            (n, n), float64.
        """
        x = torch.arange(n, dtype=torch.float64, device=device) / n
        s = 2 * math.pi * (x[:, None] + x[None, :])
        return self.config.forcing_amplitude * (torch.sin(s) + torch.cos(s))

    def _velocity_hat(self, w_hat, kx, ky, k2):
        psi_hat = w_hat / torch.where(k2 == 0, 1.0, k2)
        return 1j * ky * psi_hat, -1j * kx * psi_hat

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"vorticity": torch.stack(self.advance({"vorticity": inputs["w0"]}, self.times())["vorticity"], dim=1)}

    def advance(self, fields: dict[str, torch.Tensor], times: list[float]) -> dict[str, list[torch.Tensor]]:
        c = self.config
        w0 = fields["vorticity"].to(torch.float64)
        n, device = w0.shape[-1], w0.device
        kx, ky = spectral.wavenumber_grid(n, 2, device=device)
        k2 = kx**2 + ky**2
        dealias = spectral.dealias_mask(n, 2, device=device)
        f_hat = torch.fft.rfft2(self.forcing(n, device))
        irfft = lambda a: torch.fft.irfft2(a, s=(n, n))  # noqa: E731

        def speed(w_hat):
            u_hat, v_hat = self._velocity_hat(w_hat, kx, ky, k2)
            return float(torch.sqrt(irfft(u_hat) ** 2 + irfft(v_hat) ** 2).max())

        def nonlinear(w_hat):
            u_hat, v_hat = self._velocity_hat(w_hat, kx, ky, k2)
            advection = irfft(u_hat) * irfft(1j * kx * w_hat) + irfft(v_hat) * irfft(1j * ky * w_hat)
            return f_hat - dealias * torch.fft.rfft2(advection)

        w0_hat = torch.fft.rfft2(w0)
        check_courant(self.name, c.dt, speed(w0_hat), c.nu, n, "for this initial vorticity")

        def check(w_hat, t):
            check_courant(self.name, c.dt, speed(w_hat), c.nu, n, f"at t = {t:g}")

        states = integrate(ETDRK4(-c.nu * k2, nonlinear), w0_hat, times, c.dt, check)
        return {"vorticity": [irfft(w) for w in states]}

    def residual(self, fields, inputs=None):
        """w_t + u . grad(w) - nu Laplacian(w) - f of a stored trajectory (batch, nt, x, y):
        spectral in space with the solver's 2/3 dealiasing of the advection, second-order
        differences in time."""
        w = fields["vorticity"].to(torch.float64)
        n = w.shape[-1]
        kx, ky = spectral.wavenumber_grid(n, 2, device=w.device)
        k2 = kx**2 + ky**2
        w_hat = torch.fft.rfft2(w)
        u_hat, v_hat = self._velocity_hat(w_hat, kx, ky, k2)
        irfft = lambda a: torch.fft.irfft2(a, s=(n, n))  # noqa: E731
        advection = irfft(u_hat) * irfft(1j * kx * w_hat) + irfft(v_hat) * irfft(1j * ky * w_hat)
        advection = irfft(spectral.dealias_mask(n, 2, device=w.device) * torch.fft.rfft2(advection))
        w_t = self.time_derivative(w)
        return w_t + advection + self.config.nu * irfft(k2 * w_hat) - self.forcing(n, w.device)
