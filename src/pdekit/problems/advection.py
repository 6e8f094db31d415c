"""Linear advection u_t + beta u_x = 0 on the periodic unit interval (the PDEBench setup)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import param, require
from pdekit.numerics import random_fields
from pdekit.problems.base import common_time_checks, register, require_even_grid
from pdekit.problems.semilinear import PeriodicSemilinear1D


@dataclass(frozen=True)
class AdvectionConfig:
    beta: float = param(0.1, "advection speed (PDEBench: 0.1, 0.2, 0.4, 0.7, 1, 2, 4, 7)")
    t_final: float = param(2.0, "final time")
    nt: int = param(201, "stored time points, t = 0 and t = t_final included")
    solve_resolution: int = param(1024, "points of the grid the solver runs on (the stored grid divides it)")
    ic_waves: int = param(2, "initial condition: number of sine waves summed")
    ic_k_max: int = param(8, "initial condition: largest integer wavenumber of a wave")

    @property
    def dt(self) -> float:  # the exact shift needs one step per stored interval
        return self.t_final

    def validate(self) -> None:
        """Check the time settings (common_time_checks), an even solve_resolution >= 8, ic_waves and ic_k_max >= 1, and
        2 ic_k_max < solve_resolution."""
        common_time_checks(self)
        require_even_grid(self.solve_resolution, 8)
        require(self.ic_waves >= 1 and self.ic_k_max >= 1, "ic_waves and ic_k_max must be >= 1")
        require(2 * self.ic_k_max < self.solve_resolution,
                f"ic_k_max = {self.ic_k_max} needs solve_resolution > {2 * self.ic_k_max}")


@register
class Advection1D(PeriodicSemilinear1D):
    """u_t + beta u_x = 0 on the periodic interval [0, 1) (PDEBench); input u0, a sum of sines.
    Solved by the exact Fourier shift (one ETDRK4 step per stored interval with a zero nonlinear
    term); stores u (nt, x)."""

    name = "advection_1d"
    conserved = ("mass",)  # the equation is in conservation form on a periodic domain
    summary = "u_t + beta u_x = 0, periodic [0, 1); sum-of-sines IC (PDEBench); exact Fourier shift"
    Config = AdvectionConfig
    min_resolution = 8
    default_resolution = 1024

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        return {"u0": random_fields.sine_sum(rng, self.solve_points(), c.ic_waves, c.ic_k_max)}

    def linear(self, k: torch.Tensor) -> torch.Tensor:
        return -1j * self.config.beta * k

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*u.shape[:-1], len(k), dtype=torch.complex128, device=u.device)
