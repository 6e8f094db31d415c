"""Kuramoto-Sivashinsky u_t + u u_x + u_xx + u_xxxx = 0 on the periodic interval [0, length)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields
from pdekit.problems.base import common_time_checks, register, require_even_grid
from pdekit.problems.semilinear import PeriodicSemilinear1D


@dataclass(frozen=True)
class KuramotoSivashinskyConfig:
    length: float = param(22.0, "domain length L (22 and 64 are the common choices; chaotic for L >~ 20; with "
                                "length_max: the smallest of the samples' lengths)")
    length_max: float = param(0.0, "draw each sample's length uniformly from [length, length_max] (0: length for "
                                   "every sample)")
    t_final: float = param(50.0, "final time, counted after the spin-up")
    nt: int = param(51, "stored time points, t = 0 and t = t_final included")
    spinup: float = param(100.0, "time integrated and discarded before t = 0, to reach the attractor")
    dt: float = param(0.05, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(128, "points of the grid the solver runs on (the stored grid divides it)")
    ic_modes: int = param(8, "initial condition: Gaussian coefficients on integer wavenumbers 1..ic_modes")
    ic_scale: float = param(1.0, "initial condition: standard deviation of each mode's coefficient")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), length > 0, spinup >= 0, an even solve_resolution >= 16,
        ic_modes >= 1 and ic_scale > 0."""
        common_time_checks(self)
        require(self.length > 0, f"length must be positive, got {self.length}")
        require(self.spinup >= 0, f"spinup must be >= 0, got {self.spinup}")
        require_even_grid(self.solve_resolution, 16)
        limits(self, ic_modes=(">=", 1), ic_scale=(">", 0))


@register
class KuramotoSivashinsky1D(PeriodicSemilinear1D):
    """u_t + u u_x + u_xx + u_xxxx = 0 on the periodic interval [0, length); input u0, random
    coefficients on wavenumbers 1 .. ic_modes, integrated for ``spinup`` before t = 0. Pseudo-spectral
    in space, ETDRK4 in time; stores u (nt, x). With ``length_max`` each sample draws its own L
    (stored under /params/length; /coords/x is the grid of ``length``, sample i's is x L_i / length)."""

    name = "kuramoto_sivashinsky_1d"
    symmetries = ("translation", "galilean")  # u(x - s - c t, t) + c solves it too (data/lie.py)
    conserved = ("mass",)  # the equation is in conservation form on a periodic domain
    varying = {"length": "uniform"}  # the same n points span each sample's own [0, L): dx = L / n
    summary = "u_t + u u_x + u_xx + u_xxxx = 0, periodic [0, L); random IC, spin-up discarded; ETDRK4"
    Config = KuramotoSivashinskyConfig
    min_resolution = 16
    default_resolution = 64

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        std = lambda k: np.where(k <= c.ic_modes, c.ic_scale, 0.0)  # noqa: E731
        return {"u0": random_fields.periodic_1d(rng, self.solve_resolution, std, c.ic_modes)}

    def linear(self, k: torch.Tensor) -> torch.Tensor:
        return k**2 - k**4

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return -0.5j * k * torch.fft.rfft(u * u)

    def unresolved(self, inputs, fields):
        """A spacing L / solve_resolution above 0.5 (the largest of the samples' L). Relative error
        over 5 time units from one attractor state at L = 64, against 512 points: 3e-5 at spacing
        0.5, 1e-3 at 0.67, 4e-2 at 1."""
        n = self.solve_resolution
        longest = float(inputs["length"].max()) if "length" in inputs else self.config.length
        if longest / n <= 0.5:
            return None
        return (f"the spacing L / solve_resolution = {longest:.3g} / {n} = {longest / n:.2g} exceeds 0.5 (errors of 1e-3 "
                f"at 0.67 and 4e-2 at 1 over 5 time units); raise solve_resolution to {2 * math.ceil(longest):d} or more (a "
                f"multiple of the stored {self.resolution} points)")
