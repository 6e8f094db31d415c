"""The wave equation u_tt = c^2 (u_xx + u_yy) on the periodic unit square, written as the system
u_t = v, v_t = c^2 Laplacian(u): spectral in space, Stormer-Verlet (leapfrog) in time.

Verlet is second order and symplectic: the energy E = 1/2 mean(v^2 + c^2 |grad u|^2) is not
conserved exactly but stays within O(dt^2) of its initial value, without drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.errors import ConfigError
from pdekit.numerics import random_fields, spectral
from pdekit.numerics.etdrk4 import integrate
from pdekit.problems.base import Problem, common_time_checks, register


@dataclass(frozen=True)
class WaveConfig:
    c: float = param(1.0, "wave speed")
    t_final: float = param(1.0, "final time")
    nt: int = param(21, "stored time points, t = 0 and t = t_final included")
    dt: float = param(1e-3, "largest time step of the leapfrog integrator (stable for dt c k_max < 2)")
    solve_resolution: int = param(0, "points per dimension of the solve grid (0: the stored resolution)")
    ic_scale: float = param(25.0, "initial displacement N(0, ic_scale^2 (-Laplacian + ic_tau^2 I)^-ic_alpha)")
    ic_tau: float = param(5.0, "initial condition: inverse length scale tau")
    ic_alpha: float = param(2.5, "initial condition: smoothness exponent alpha")
    initial_velocity: bool = param(False, "draw the initial velocity as an independent field too (else v0 = 0)")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), c > 0, solve_resolution >= 0, ic_alpha > 1 and ic_tau > 0."""
        common_time_checks(self)
        require(self.c > 0, f"c must be positive, got {self.c}")
        require(self.solve_resolution >= 0, f"solve_resolution must be >= 0, got {self.solve_resolution}")
        limits(self, ic_alpha=(">", 1), ic_tau=(">", 0))


def _k2(n: int, device) -> torch.Tensor:
    return sum(k**2 for k in spectral.wavenumber_grid(n, 2, device=device))


class _Verlet:
    """Kick-drift-kick on Fourier coefficients (u, v), v_t = accel * u; a stepper for integrate()."""

    def __init__(self, accel: torch.Tensor):
        self.accel = accel

    def step(self, state, h: float):
        u, v = state
        v = v + 0.5 * h * self.accel * u
        u = u + h * v
        return u, v + 0.5 * h * self.accel * u


@register
class Wave2D(Problem):
    """u_tt = c^2 (u_xx + u_yy) on the periodic unit square [0, 1)^2, as u_t = v, v_t = c^2
    Laplacian(u); inputs u0, a Gaussian random field, and v0 (zero, or an independent field).
    Spectral in space, Stormer-Verlet in time; stores u and v (nt, x, y)."""

    name = "wave_2d"
    conserved = ("energy",)  # Stormer-Verlet keeps it up to an O(dt^2) oscillation
    summary = "u_tt = c^2 (u_xx + u_yy), periodic [0, 1)^2; GRF displacement; spectral + Stormer-Verlet"
    Config = WaveConfig
    ndim = 2
    time_dependent = True
    fields = ("u", "v")
    min_resolution = 8
    default_resolution = 64
    input_modes = 31  # those the default 64 x 64 grid resolves

    def check(self) -> None:
        c, n = self.config, self.solve_resolution
        k_max = 2 * math.pi * math.sqrt(2) * (n // 2)
        if c.dt * c.c * k_max >= 2:
            raise ConfigError(f"wave_2d: dt = {c.dt:g} is unstable at solve_resolution {n} (dt c k_max = "
                              f"{c.dt * c.c * k_max:.3g} >= 2): set dt <= {1.9 / (c.c * k_max):.3g}")

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        std = lambda k2: c.ic_scale * (4 * math.pi**2 * k2 + c.ic_tau**2) ** (-c.ic_alpha / 2)  # noqa: E731
        u0 = random_fields.periodic_2d(rng, self.solve_resolution, std, self.input_modes)
        v0 = random_fields.periodic_2d(rng, self.solve_resolution, std, self.input_modes) if c.initial_velocity else np.zeros_like(u0)
        return {"u0": u0, "v0": v0}

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fields = {"u": inputs["u0"], "v": inputs["v0"] if "v0" in inputs else torch.zeros_like(inputs["u0"])}
        return {k: torch.stack(v, dim=1) for k, v in self.advance(fields, self.times()).items()}

    def advance(self, fields: dict[str, torch.Tensor], times: list[float]) -> dict[str, list[torch.Tensor]]:
        c = self.config
        u = torch.fft.rfft2(fields["u"].to(torch.float64))
        v = torch.fft.rfft2(fields["v"].to(torch.float64))
        n = fields["u"].shape[-1]
        states = integrate(_Verlet(-c.c**2 * _k2(n, u.device)), (u, v), times, c.dt)
        return {name: [torch.fft.irfft2(s[k], s=(n, n)) for s in states] for k, name in enumerate(("u", "v"))}

    def conserved_quantities(self, fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The energy of each sample's (u, v), (batch,)."""
        return {"energy": self.energy(fields["u"], fields["v"])}

    def energy(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """1/2 mean(v^2 + c^2 |grad u|^2) over the unit square, per leading index; mean |grad u|^2 by
        Parseval with every mode's |k|^2, the Nyquist modes' included: the stepper moves them, and a
        spectral first derivative, which drops them, left their energy out (a 1% drift on 16 points)."""
        n = u.shape[-1]
        k = spectral.wavenumbers(n, device=u.device)
        u_hat = torch.fft.fft2(u.to(torch.float64))
        grad2 = ((k[:, None] ** 2 + k**2) * u_hat.abs() ** 2).sum((-2, -1)) / n**4
        return 0.5 * ((v.to(torch.float64) ** 2).mean((-2, -1)) + self.config.c**2 * grad2)

    def residual(self, fields, inputs=None):
        """(u_t - v, v_t - c^2 Laplacian(u)) of a stored trajectory, stacked on axis 1: spectral in
        space, second-order differences in t."""
        u, v = fields["u"].to(torch.float64), fields["v"].to(torch.float64)
        u_t = self.time_derivative(u)
        v_t = self.time_derivative(v)
        return torch.stack([u_t - v, v_t - self.config.c**2 * spectral.laplacian(u, 2)], dim=1)
