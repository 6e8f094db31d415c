"""Linear advection u_t + beta u_x = nu u_xx on the periodic unit interval (PDEBench's setup has
nu = 0; with nu > 0, set as ``diffusivity``, the advection-diffusion equation that learned
stencils are checked on)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields
from pdekit.problems.base import common_time_checks, register, require_even_grid
from pdekit.problems.semilinear import PeriodicSemilinear1D


@dataclass(frozen=True)
class AdvectionConfig:
    beta: float = param(0.1, "advection speed (PDEBench: 0.1, 0.2, 0.4, 0.7, 1, 2, 4, 7)")
    diffusivity: float = param(0.0, "nu of the nu u_xx term (PDEBench: 0, pure advection)")
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
        limits(self, ic_waves=(">=", 1), ic_k_max=(">=", 1))
        require(self.diffusivity >= 0, f"diffusivity must be >= 0, got {self.diffusivity}")
        require(2 * self.ic_k_max < self.solve_resolution,
                f"ic_k_max = {self.ic_k_max} needs solve_resolution > {2 * self.ic_k_max}")


@register
class Advection1D(PeriodicSemilinear1D):
    """u_t + beta u_x = nu u_xx (nu: ``diffusivity``) on the periodic interval [0, 1) (PDEBench:
    nu = 0); input u0, a sum of sines. Solved exactly in Fourier space (one ETDRK4 step per stored interval with a zero
    nonlinear term: the factor exp((-i beta k - nu k^2) dt)); stores u (nt, x)."""

    name = "advection_1d"
    conserved = ("mass",)  # the equation is in conservation form on a periodic domain
    summary = "u_t + beta u_x = nu u_xx, periodic [0, 1); sum-of-sines IC (PDEBench: nu = 0); exact in Fourier space"
    Config = AdvectionConfig
    min_resolution = 8
    default_resolution = 1024

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        return {"u0": random_fields.sine_sum(rng, self.solve_points(), c.ic_waves, c.ic_k_max)}

    def linear(self, k: torch.Tensor) -> torch.Tensor:
        if self.config.diffusivity:  # (PDEBench's 0 keeps the operator, and its data, as they were)
            return -1j * self.config.beta * k - self.config.diffusivity * k**2
        return -1j * self.config.beta * k

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*u.shape[:-1], len(k), dtype=torch.complex128, device=u.device)
