"""Korteweg-de Vries u_t + u u_x + u_xxx = 0 on the periodic interval [0, length) (the PDEArena /
Lie-point-symmetry setup); the stiff dispersion is integrated exactly by ETDRK4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields
from pdekit.problems.base import common_time_checks, register, require_even_grid
from pdekit.problems.semilinear import PeriodicSemilinear1D


@dataclass(frozen=True)
class KdVConfig:
    length: float = param(128.0, "domain length")
    t_final: float = param(100.0, "final time")
    nt: int = param(101, "stored time points, t = 0 and t = t_final included")
    dt: float = param(0.05, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(512, "points of the grid the solver runs on (the stored grid divides it)")
    ic_waves: int = param(5, "initial condition: number of sine waves summed")
    ic_k_max: int = param(3, "initial condition: largest integer wavenumber (periods per domain)")
    ic_amplitude: float = param(0.5, "initial condition: amplitudes uniform in [-ic_amplitude, ic_amplitude]")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), length > 0, an even solve_resolution >= 16, ic_waves and
        ic_k_max >= 1 and ic_amplitude > 0."""
        common_time_checks(self)
        require(self.length > 0, f"length must be positive, got {self.length}")
        require_even_grid(self.solve_resolution, 16)
        limits(self, ic_waves=(">=", 1), ic_k_max=(">=", 1), ic_amplitude=(">", 0))


@register
class KdV1D(PeriodicSemilinear1D):
    """u_t + u u_x + u_xxx = 0 on the periodic interval [0, length) (PDEArena); input u0, a sum of
    sines. Pseudo-spectral in space, ETDRK4 in time (the stiff dispersion exactly); stores
    u (nt, x)."""

    name = "kdv_1d"
    symmetries = ("translation", "galilean")  # u(x - s - c t, t) + c solves it too (data/lie.py)
    conserved = ("mass",)  # the equation is in conservation form on a periodic domain
    summary = "u_t + u u_x + u_xxx = 0, periodic [0, L); sum-of-sines IC (PDEArena); ETDRK4"
    Config = KdVConfig
    min_resolution = 16
    default_resolution = 256

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        a = (-c.ic_amplitude, c.ic_amplitude)
        return {"u0": random_fields.sine_sum(rng, self.solve_points(), c.ic_waves, c.ic_k_max, a, c.length)}

    def linear(self, k: torch.Tensor) -> torch.Tensor:
        return 1j * k**3  # -u_xxx

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return -0.5j * k * torch.fft.rfft(u * u)
