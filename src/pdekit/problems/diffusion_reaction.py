"""Diffusion-reaction (Fisher-KPP) u_t = nu u_xx + rho u (1 - u) on the periodic unit interval
(PDEBench's 1D diffusion-reaction problem)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields
from pdekit.problems.base import common_time_checks, register, require_even_grid
from pdekit.problems.semilinear import PeriodicSemilinear1D


@dataclass(frozen=True)
class DiffusionReactionConfig:
    nu: float = param(0.5, "diffusion coefficient (PDEBench: 0.5, 1, 2, 5)")
    rho: float = param(1.0, "reaction rate (PDEBench: 1, 2, 5, 10)")
    t_final: float = param(1.0, "final time")
    nt: int = param(101, "stored time points, t = 0 and t = t_final included")
    dt: float = param(1e-3, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(1024, "points of the grid the solver runs on (the stored grid divides it)")
    ic_waves: int = param(2, "initial condition: sine waves summed, then |.| scaled to a maximum of 1")
    ic_k_max: int = param(8, "initial condition: largest integer wavenumber of a wave")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), rho >= 0, an even solve_resolution >= 8, and ic_waves and
        ic_k_max >= 1."""
        common_time_checks(self)
        require(self.rho >= 0, f"rho must be >= 0, got {self.rho}")
        require_even_grid(self.solve_resolution, 8)
        limits(self, ic_waves=(">=", 1), ic_k_max=(">=", 1))


FINE_POINTS = 8192


@register
class DiffusionReaction1D(PeriodicSemilinear1D):
    """u_t = nu u_xx + rho u (1 - u) on the periodic interval [0, 1) (PDEBench); input u0, the
    absolute value of a sum of sines scaled to a maximum of 1. Pseudo-spectral in space, ETDRK4 in
    time; stores u (nt, x)."""

    name = "diffusion_reaction_1d"
    summary = "u_t = nu u_xx + rho u (1 - u), periodic [0, 1); IC in [0, 1] (PDEBench); ETDRK4"
    Config = DiffusionReactionConfig
    min_resolution = 8
    default_resolution = 1024

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        # scaled by its maximum on a fixed fine grid, not on the grid in use, so a sample is one
        # function at every resolution (clipped at 1 between the fine grid's points)
        points = self.solve_points()
        fine = self.x_min + np.arange(FINE_POINTS) / FINE_POINTS * self.length
        u = np.abs(random_fields.sine_sum(rng, np.concatenate([points, fine]), c.ic_waves, c.ic_k_max))
        return {"u0": np.minimum(u[: len(points)] / max(u[len(points):].max(), 1e-12), 1.0)}

    def linear(self, k: torch.Tensor) -> torch.Tensor:
        return -self.config.nu * k**2

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(self.config.rho * u * (1 - u))
