"""The heat equation u_t = nu Laplacian(u) on the periodic unit interval and square.

Solved exactly in time (each Fourier mode decays by exp(-nu |k|^2 t)) and spectrally in space,
which makes it the simplest test bed for the data and training machinery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields, spectral
from pdekit.problems.base import Problem, common_time_checks, register


@dataclass(frozen=True)
class HeatConfig:
    nu: float = param(0.01, "diffusivity")
    t_final: float = param(1.0, "final time")
    nt: int = param(11, "stored time points, t = 0 and t = t_final included")
    solve_resolution: int = param(0, "points per dimension of the solve grid (0: the stored resolution)")
    ic_scale: float = param(25.0, "initial condition N(0, ic_scale^2 (-Laplacian + ic_tau^2 I)^-ic_alpha)")
    ic_tau: float = param(5.0, "initial condition: inverse length scale tau")
    ic_alpha: float = param(2.0, "initial condition: smoothness exponent alpha")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), solve_resolution >= 0, ic_alpha > 0.5 and ic_tau > 0."""
        common_time_checks(self)
        require(self.solve_resolution >= 0, f"solve_resolution must be >= 0, got {self.solve_resolution}")
        limits(self, ic_alpha=(">", 0.5), ic_tau=(">", 0))


class _Heat(Problem):
    Config = HeatConfig
    time_dependent = True

    conserved = ("mass",)  # periodic diffusion keeps the mean

    def _std(self, k2):
        c = self.config
        return c.ic_scale * (4 * math.pi**2 * k2 + c.ic_tau**2) ** (-c.ic_alpha / 2)

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"u": torch.stack(self.advance({"u": inputs["u0"]}, self.times())["u"], dim=1)}

    def advance(self, fields: dict[str, torch.Tensor], times: list[float]) -> dict[str, list[torch.Tensor]]:
        u0 = fields["u"].to(torch.float64)
        n, dims = u0.shape[-1], tuple(range(-self.ndim, 0))
        k2 = sum(k**2 for k in spectral.wavenumber_grid(n, self.ndim, device=u0.device))
        u0_hat = torch.fft.rfftn(u0, dim=dims)
        return {"u": [torch.fft.irfftn(torch.exp(-self.config.nu * k2 * (t - times[0])) * u0_hat, s=u0.shape[-self.ndim:],
                                       dim=dims) for t in times]}

    def residual(self, fields, inputs=None):
        """u_t - nu Laplacian(u) of a stored trajectory: spectral in space, second-order in time."""
        u = fields["u"].to(torch.float64)
        u_t = self.time_derivative(u)
        return u_t - self.config.nu * spectral.laplacian(u, self.ndim)


@register
class Heat1D(_Heat):
    """u_t = nu u_xx on the periodic interval [0, 1); input u0, a Gaussian random field
    N(0, ic_scale^2 (-Laplacian + ic_tau^2 I)^-ic_alpha). Solved exactly in time (each Fourier mode
    decays by exp(-nu k^2 t)) and spectrally in space; stores u (nt, x)."""

    name = "heat_1d"
    summary = "u_t = nu u_xx, periodic [0, 1); GRF initial condition; exact in time, spectral in space"
    ndim = 1
    symmetries = ("translation", "reflection", "superposition")  # periodic, even in x, linear (data/symmetry.py)
    default_resolution = 256
    input_modes = 127  # those the default grid resolves

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"u0": random_fields.periodic_1d(rng, self.solve_resolution, lambda k: self._std(k**2), self.input_modes)}


@register
class Heat2D(_Heat):
    """u_t = nu (u_xx + u_yy) on the periodic unit square [0, 1)^2; input u0, a Gaussian random field
    as for heat_1d. Solved exactly in time and spectrally in space; stores u (nt, x, y)."""

    name = "heat_2d"
    summary = "u_t = nu (u_xx + u_yy), periodic [0, 1)^2; GRF initial condition; exact in time, spectral in space"
    ndim = 2
    symmetries = ("translation", "dihedral", "superposition")  # periodic, isotropic, linear (data/symmetry.py)
    default_resolution = 64
    input_modes = 31  # those the default grid resolves

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"u0": random_fields.periodic_2d(rng, self.solve_resolution, self._std, self.input_modes)}
