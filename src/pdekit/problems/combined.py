"""MP-PDE's combined equation (Brandstetter, Worrall and Welling 2022) on the periodic interval [0, 16):

    u_t + d_x(alpha u^2 / 2 - beta u_x + gamma u_xx) = delta(t, x),
    delta(t, x) = sum_{j=1..5} A_j sin(omega_j t + 2 pi l_j x / L + phi_j),  u(0, x) = delta(0, x),

A_j ~ U[-0.5, 0.5], omega_j ~ U[-0.4, 0.4], l_j in {1, 2}, phi_j ~ U[0, 2 pi), drawn per sample, as
the authors' generator draws them. Their three scenarios are parameter sets of this problem:
E1 (Burgers without diffusion) alpha = 1, beta = gamma = 0, t_final = 4; E2 (variable viscosity)
alpha = 1, beta in U[0, 0.2] (beta_max = 0.2), t_final = 4; E3 (mixed Burgers / KdV) alpha in U[0, 6],
beta in U[0.1, 0.4], gamma in U[0, 1], t_final = 2. Solved by WENO5 for the flux and fourth-order differences for the rest
(numerics/weno.py) with SSP-RK3, on 200 points by default, stored on divisors (100, 50, 40).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.errors import ConfigError, PdekitError, UnstableError
from pdekit.numerics import weno
from pdekit.problems.base import Problem, register

WAVES = 5


@dataclass(frozen=True)
class CombinedConfig:
    alpha: float = param(1.0, "coefficient of the convection d_x(u^2 / 2); with alpha_max: the smallest of the samples'")
    alpha_max: float = param(0.0, "draw each sample's alpha uniformly from [alpha, alpha_max] (0: alpha for all)")
    beta: float = param(0.0, "viscosity; with beta_max: the smallest of the samples'")
    beta_max: float = param(0.0, "draw each sample's beta uniformly from [beta, beta_max] (0: beta for all)")
    gamma: float = param(0.0, "dispersion (the u_xxx term); with gamma_max: the smallest of the samples'")
    gamma_max: float = param(0.0, "draw each sample's gamma uniformly from [gamma, gamma_max] (0: gamma for all)")
    length: float = param(16.0, "domain length (MP-PDE: 16)")
    t_final: float = param(4.0, "final time (E1, E2: 4; E3: 2)")
    nt: int = param(250, "stored time points, t = 0 and t_final included (MP-PDE: 250)")
    solve_resolution: int = param(200, "points of the grid the solver runs on (the stored grid divides it)")
    scheme: str = param("weno5", "spatial scheme: WENO5 (the reference) or second-order differences (a baseline)",
                        weno.SCHEMES)
    u_bound: float = param(5.0, "largest |u| the time step is made stable for; a solution beyond it stops with an error")
    dt: float = param(0.0, "time step (0: 0.8 x the largest stable one for the coefficient ranges and u_bound; "
                           "a larger one than that stable step is refused)")

    def validate(self) -> None:
        """Check t_final > 0, nt >= 2, non-negative coefficients, length > 0, u_bound > 0,
        solve_resolution >= 8 and dt >= 0."""
        limits(self, t_final=(">", 0), nt=(">=", 2))
        require(min(self.alpha, self.beta, self.gamma) >= 0, "alpha, beta and gamma must be >= 0")
        limits(self, length=(">", 0), u_bound=(">", 0))
        require(self.solve_resolution >= 8, f"solve_resolution must be at least 8, got {self.solve_resolution}")
        require(self.dt >= 0, f"dt must be >= 0 (0: automatic), got {self.dt}")


@register
class Combined1D(Problem):
    """MP-PDE's combined equation u_t + d_x(alpha u^2 / 2 - beta u_x + gamma u_xx) = delta(t, x) on
    [0, 16), forcing and initial condition a sum of 5 random travelling sines; alpha, beta, gamma
    per sample where their *_max are set (scenarios E1-E3 in the module docstring). WENO5 (or
    second-order differences) in space, SSP-RK3 in time; stores u (nt, x)."""

    name = "combined_1d"
    summary = "MP-PDE's combined equation (Burgers / KdV with forcing), periodic [0, 16); WENO5 + SSP-RK3"
    Config = CombinedConfig
    ndim = 1
    time_dependent = True
    periodic = True
    autonomous = False  # the forcing depends on time: a step needs the state's time and the waves
    conserved = ("mass",)  # the forcing has zero mean (l_j >= 1), and the schemes are conservative
    min_resolution = 8
    default_resolution = 100
    varying = {"alpha": "uniform", "beta": "uniform", "gamma": "uniform"}

    def solve_points(self) -> np.ndarray:
        """The solve grid's points x_j = length j / n, (n,)."""
        return self.length * np.arange(self.solve_resolution) / self.solve_resolution

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The forcing's waves (A, omega, l, phi) per row, (5, 4), and u0 = delta(0, x) on the solve grid."""
        waves = np.stack([rng.uniform(-0.5, 0.5, WAVES), rng.uniform(-0.4, 0.4, WAVES),
                          rng.integers(1, 3, WAVES).astype(np.float64), rng.uniform(0, 2 * np.pi, WAVES)], axis=1)
        return {"u0": self._forcing(torch.from_numpy(waves)[None], torch.from_numpy(self.solve_points()), 0.0)[0].numpy(),
                "waves": waves}

    def _forcing(self, waves: torch.Tensor, x: torch.Tensor, t: float) -> torch.Tensor:
        """delta(t, x) of each sample's waves (batch, 5, 4) at the points x (n,): (batch, n)."""
        a, omega, l, phi = (waves[..., j : j + 1] for j in range(4))
        return (a * torch.sin(omega * t + 2 * math.pi * l * x / self.length + phi)).sum(1)

    def time_step(self, n: int) -> float:
        """The step on n points: the config's, or the largest stable one for the coefficients'
        ranges and u_bound."""
        c = self.config
        top = {k: max(getattr(c, k), getattr(c, f"{k}_max")) for k in self.varying}
        stable = lambda safety: weno.stable_dt(c.length / n, top["alpha"], top["beta"], top["gamma"],  # noqa: E731
                                               c.u_bound, c.scheme, safety)
        if c.dt > stable(1.0):  # beyond it the solution degrades silently before it blows up
            raise ConfigError(f"combined_1d: dt = {c.dt:g} exceeds the stable step {stable(1.0):.4g} on {n} points for "
                              f"the coefficients' largest values and u_bound = {c.u_bound:g}: set dt <= that (0: "
                              f"automatic), or a smaller u_bound where |u| stays below it (the solve checks it)")
        return c.dt or stable(0.8)

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "waves" not in inputs or "u0" not in inputs:
            raise PdekitError("combined_1d.solve needs inputs['u0'] and inputs['waves'] (draw them with "
                              "pdekit.data.generate.draw_inputs)")
        fields = {**inputs, "u": inputs["u0"]}
        return {"u": torch.stack(self.advance(fields, self.times())["u"], dim=1)}

    def advance(self, fields, times):
        """u at ``times`` from u at times[0]: ``fields`` holds u (batch, n), the forcing's waves
        (batch, 5, 4) and the coefficients drawn per sample (batch,); the times are absolute, since
        the forcing depends on them."""
        if "waves" not in fields:
            raise PdekitError("combined_1d is forced in time: advancing u needs the forcing's waves (batch, 5, 4) "
                              "with it, fields['waves'] (as drawn with the inputs)")
        u = fields["u"].to(torch.float64)
        n = u.shape[-1]
        x = self.length * torch.arange(n, dtype=torch.float64, device=u.device) / n
        waves = fields["waves"].to(device=u.device, dtype=torch.float64)
        coefs = {k: self.param(fields, k, u) for k in self.varying}
        dt, out = self.time_step(n), [u]
        for t0, t1 in zip(times[:-1], times[1:]):
            u = weno.ssp_rk3(u, t0, t1, dt, dx=self.length / n, scheme=self.config.scheme,
                             forcing=lambda t: self._forcing(waves, x, t), **coefs)
            top = float(u.abs().max())
            if not math.isfinite(top) or top > self.config.u_bound:
                raise UnstableError(f"combined_1d: max |u| = {top:.3g} exceeds u_bound = {self.config.u_bound:g} by "
                                    f"t = {t1:g}: raise u_bound (the step shrinks with it) or set a smaller dt")
            out.append(u)
        return {"u": out}

    def residual(self, fields, inputs):
        raise PdekitError("combined_1d has no grid residual for a physics loss yet")
