"""Allen-Cahn u_t = eps u_xx + 5 u - 5 u^3 on the periodic interval [-1, 1) (the PINN benchmark)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.numerics import random_fields
from pdekit.problems.base import PinnProblem, common_time_checks, register, require_even_grid
from pdekit.problems.semilinear import PeriodicSemilinear1D


@dataclass(frozen=True)
class AllenCahnConfig:
    eps: float = param(1e-4, "diffusion coefficient")
    reaction: float = param(5.0, "reaction rate r in r (u - u^3)")
    initial: str = param("standard", "standard: u0 = x^2 cos(pi x), the same for every sample; random: a GRF",
                         ("standard", "random"))
    t_final: float = param(1.0, "final time")
    nt: int = param(201, "stored time points, t = 0 and t = t_final included")
    dt: float = param(1e-3, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(2048, "points of the grid the solver runs on (the stored grid divides it)")
    ic_scale: float = param(0.5, "random initial condition: N(0, ic_scale^2 (1 + (k / ic_modes)^2)^-2) per mode")
    ic_modes: float = param(4.0, "random initial condition: its correlation wavenumber")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), eps > 0, reaction >= 0 and an even solve_resolution >= 16."""
        common_time_checks(self)
        limits(self, eps=(">", 0), reaction=(">=", 0))
        require_even_grid(self.solve_resolution, 16)


@register
class AllenCahn1D(PeriodicSemilinear1D):
    """u_t = eps u_xx + r (u - u^3) on the periodic interval [-1, 1); input u0 = x^2 cos(pi x) (the
    same for every sample) or a random field. Pseudo-spectral in space, ETDRK4 in time; stores
    u (nt, x)."""

    name = "allen_cahn_1d"
    summary = "u_t = 1e-4 u_xx + 5 u - 5 u^3, periodic [-1, 1); u0 = x^2 cos(pi x) or random; ETDRK4"
    Config = AllenCahnConfig
    x_min = -1.0
    min_resolution = 16
    default_resolution = 512
    input_modes = 1023  # those the default 2048-point solve grid resolves

    @property
    def length(self) -> float:
        return 2.0

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        if c.initial == "standard":
            x = self.solve_points()
            return {"u0": x**2 * np.cos(math.pi * x)}
        std = lambda k: c.ic_scale * (1 + (k / c.ic_modes) ** 2) ** -1.0  # noqa: E731
        return {"u0": random_fields.periodic_1d(rng, self.solve_resolution, std, self.input_modes)}

    def linear(self, k: torch.Tensor) -> torch.Tensor:
        return self.config.reaction - self.config.eps * k**2

    def unresolved(self, inputs, fields):
        """The maximum principle: |u| stays within max(1, max |u0|); an overshoot of more than 1e-4
        (relative) means the interfaces, sqrt(eps / r) wide, are under-resolved. Standard case to
        t = 1 against 2048 points, over the 201 stored times: 512 points overshoot by 8e-6 with a max
        error of 1e-3, 256 by 8e-4 with 1.3e-2, 128 by 6% with 7.6e-2. A necessary check only: smooth
        random data at 256 points do not overshoot."""
        u = fields["u"]
        bound = u[:, 0].abs().amax(dim=-1).clamp(min=1.0)
        top = u.abs().flatten(1).amax(dim=1)
        worst = int(torch.argmax(top / bound))
        if top[worst] <= (1 + 1e-4) * bound[worst]:
            return None
        c = self.config
        return (f"max |u| = {float(top[worst]):.4g} breaks the maximum principle's bound {float(bound[worst]):.4g} by "
                f"{100 * float(top[worst] / bound[worst] - 1):.2g}%: {self.solve_resolution} points (spacing "
                f"{self.length / self.solve_resolution:.2g}) do not resolve the interfaces, sqrt(eps / r) = "
                f"{math.sqrt(c.eps / c.reaction) if c.reaction else math.inf:.2g} wide; raise solve_resolution")

    def nonlinear(self, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(-self.config.reaction * u**3)


@dataclass(frozen=True)
class AllenCahnPinnConfig:
    eps: float = param(1e-4, "diffusion coefficient")

    def validate(self):
        """Check eps > 0."""
        require(self.eps > 0, "eps must be positive")


@register
class AllenCahnPinn(PinnProblem):
    """u_t = eps u_xx + 5 u - 5 u^3, u0 = x^2 cos(pi x), periodic on [-1, 1]; reference: the
    allen_cahn_1d solver (spectral, ETDRK4) on the standard 512 x 201 grid."""

    name = "allen_cahn"
    summary = "PINN: Allen-Cahn on [-1, 1] x [0, 1] (hard periodic and initial conditions), spectral reference"
    Config = AllenCahnPinnConfig

    def build(self, network):
        from pdekit.data.generate import solve_samples
        from pdekit.models import build_network
        from pdekit.pinn import PINN, Benchmark, Initial, Interval, Periodic, TimeInterval, partial, space_time_grid

        c = self.config

        def residual(u, x):
            return partial(u, x, 1) - c.eps * partial(u, x, 0, 2) - 5 * u + 5 * u**3

        conditions = [Initial(lambda x: x[:, :1] ** 2 * torch.cos(math.pi * x[:, :1]), hard=True),
                      Periodic(0, hard=True)]
        pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), residual, build_network(network, 3), conditions)
        problem = AllenCahn1D.from_params(512, {"eps": c.eps})

        def reference():  # solved when the run is scored, not when its recipe is loaded
            return solve_samples(problem, 0, range(1))["fields/u"][0].astype(np.float64)

        x, t = problem.coords()["x"], problem.coords()["t"]
        return Benchmark(pinn, {"x": x, "t": t}, space_time_grid(x, t), reference)
