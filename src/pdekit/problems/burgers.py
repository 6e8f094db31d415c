"""Viscous Burgers' equation u_t + u u_x = nu u_xx on the periodic unit interval (FNO setup)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import limits, param, require
from pdekit.errors import UnstableError
from pdekit.numerics import random_fields, spectral
from pdekit.numerics.etdrk4 import ETDRK4, integrate
from pdekit.problems.base import PinnProblem, Problem, check_courant, common_time_checks, register, require_even_grid


@dataclass(frozen=True)
class BurgersConfig:
    nu: float = param(0.1, "viscosity (with nu_max: the smallest of the samples' viscosities)")
    nu_max: float = param(0.0, "draw each sample's viscosity log-uniformly from [nu, nu_max] (0: nu for every sample)")
    t_final: float = param(1.0, "final time")
    nt: int = param(2, "stored time points, t = 0 and t = t_final included")
    dt: float = param(1e-3, "largest time step of the ETDRK4 integrator")
    solve_resolution: int = param(8192, "points of the grid the solver runs on (the stored grid divides it)")
    ic_scale: float = param(25.0, "initial condition N(0, ic_scale^2 (-Laplacian + ic_tau^2 I)^-ic_alpha)")
    ic_tau: float = param(5.0, "initial condition: inverse length scale tau")
    ic_alpha: float = param(2.0, "initial condition: smoothness exponent alpha")

    def validate(self) -> None:
        """Check the time settings (common_time_checks), an even solve_resolution >= 8, ic_alpha > 0.5
        and ic_tau > 0."""
        common_time_checks(self)
        require_even_grid(self.solve_resolution, 8)
        limits(self, ic_alpha=(">", 0.5), ic_tau=(">", 0))


@register
class Burgers1D(Problem):
    """u_t + u u_x = nu u_xx on the periodic interval [0, 1) (the FNO setup); input u0, a Gaussian
    random field. Pseudo-spectral in space with 2/3 dealiasing, ETDRK4 in time (Cox and Matthews
    2002), on an 8192-point solve grid by default; stores u (nt, x)."""

    name = "burgers_1d"
    symmetries = ("translation", "galilean")  # u(x - s - c t, t) + c solves it too (data/lie.py)
    conserved = ("mass",)  # the equation is in conservation form on a periodic domain
    varying = {"nu": "log"}
    summary = "u_t + u u_x = nu u_xx, periodic [0, 1); GRF initial condition; pseudo-spectral + ETDRK4"
    Config = BurgersConfig
    ndim = 1
    time_dependent = True
    min_resolution = 8
    default_resolution = 1024
    input_modes = 4095  # those the default 8192-point solve grid resolves

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        std = lambda k: c.ic_scale * (4 * math.pi**2 * k**2 + c.ic_tau**2) ** (-c.ic_alpha / 2)  # noqa: E731
        return {"u0": random_fields.periodic_1d(rng, self.solve_resolution, std, self.input_modes)}

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fields = {"u": inputs["u0"], **{k: v for k, v in inputs.items() if k in self.varying}}
        return {"u": torch.stack(self.advance(fields, self.times())["u"], dim=1)}

    def advance(self, fields: dict[str, torch.Tensor], times: list[float]) -> dict[str, list[torch.Tensor]]:
        c = self.config
        u0 = fields["u"].to(torch.float64)
        nu = self.param(fields, "nu", u0)  # (batch, 1) where it varies per sample
        n, u_max0 = u0.shape[-1], float(u0.abs().max())
        check_courant(self.name, c.dt, u_max0, float(torch.as_tensor(nu).min()), n, "for this initial condition")
        k = spectral.wavenumbers(n, real=True, device=u0.device)
        half_ik = -0.5j * k * spectral.dealias_mask(n, 1, device=u0.device)

        def nonlinear(v):
            u = torch.fft.irfft(v, n=n)
            return half_ik * torch.fft.rfft(u * u)

        def check(v, t):
            u_max = float(torch.fft.irfft(v, n=n).abs().max())
            if not math.isfinite(u_max) or u_max > 2 * u_max0 + 1e-12:
                raise UnstableError(
                    f"burgers_1d blew up by t = {t:g} (max|u| {u_max0:.3g} -> {u_max:.3g}, where Burgers "
                    f"obeys a maximum principle): reduce dt = {c.dt:g} or raise solve_resolution = {n}"
                )

        states = integrate(ETDRK4(-nu * k**2, nonlinear), torch.fft.rfft(u0), times, c.dt, check)
        return {"u": [torch.fft.irfft(v, n=n) for v in states]}

    def residual(self, fields, inputs=None):
        """u_t + u u_x - nu u_xx of a stored trajectory (batch, nt, x): spectral in x, second-order
        differences in t; nu per sample where ``inputs`` holds it (batch,)."""
        u = fields["u"].to(torch.float64)
        nu = self.param(inputs or {}, "nu", u)
        u_t = self.time_derivative(u)
        return u_t + u * spectral.derivative(u, 1, 0) - nu * spectral.derivative(u, 1, 0, order=2)


# --- the PINN benchmark: nu = 0.01 / pi on [-1, 1], u0 = -sin(pi x), u(+-1, t) = 0 (Raissi et al. 2019) ---
@dataclass(frozen=True)
class BurgersPinnConfig:
    nu: float = param(0.01 / math.pi, "viscosity")
    hard: bool = param(True, "impose the initial and boundary conditions exactly (else as loss terms)")
    nx: int = param(256, "evaluation grid: points in x")
    nt: int = param(101, "evaluation grid: points in t")

    def validate(self):
        """Check nu > 0 and nx, nt >= 2."""
        limits(self, nu=(">", 0), nx=(">=", 2), nt=(">=", 2))


def _pinn_parts(nu_of, hard: bool):
    """The Burgers residual (nu from the trainable coefficients) and the benchmark's conditions."""
    from pdekit.pinn import Dirichlet, Initial, partial

    def residual(u, x, c):
        return partial(u, x, 1) + u * partial(u, x, 0) - nu_of(c) * partial(u, x, 0, 2)

    return residual, [Initial(lambda x: -torch.sin(math.pi * x[:, :1]), hard=hard), Dirichlet(0.0, hard=hard)]


@register
class BurgersPinn(PinnProblem):
    """PINN benchmark (Raissi et al. 2019): u_t + u u_x = nu u_xx on [-1, 1] x [0, 1],
    u0 = -sin(pi x), u(+-1, t) = 0 (hard or soft); scored against the Cole-Hopf solution on an
    nx x nt grid."""

    name = "burgers"
    summary = "PINN: viscous Burgers on [-1, 1] x [0, 1], u0 = -sin(pi x), reference by Cole-Hopf"
    Config = BurgersPinnConfig

    def build(self, network):
        from pdekit.models import build_network
        from pdekit.pinn import PINN, Benchmark, Interval, TimeInterval, burgers_cole_hopf, space_time_grid

        c = self.config
        residual, conditions = _pinn_parts(lambda _: c.nu, c.hard)
        pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), residual, build_network(network, 2), conditions)
        x, t = np.linspace(-1, 1, c.nx), np.linspace(0, 1, c.nt)
        return Benchmark(pinn, {"x": x, "t": t}, space_time_grid(x, t), burgers_cole_hopf(x, t, c.nu))


@dataclass(frozen=True)
class BurgersInverseConfig:
    nu_true: float = param(0.01 / math.pi, "viscosity that made the observations")
    nu_init: float = param(0.01, "initial guess of the trainable viscosity")
    observations: int = param(2000, "observed points, uniform in [-1, 1] x [0, 1]")
    noise: float = param(0.01, "observation noise: Gaussian, this fraction of the data's standard deviation")
    seed: int = param(0, "seed of the observation points and noise")

    def validate(self):
        """Check nu_true > 0, nu_init > 0, observations >= 1 and noise >= 0."""
        limits(self, nu_true=(">", 0), nu_init=(">", 0))
        require(self.observations >= 1 and self.noise >= 0, "observations must be >= 1 and noise >= 0")


@register
class BurgersInversePinn(PinnProblem):
    """Recover nu from noisy observations; nu is trained as log(nu) so it stays positive."""

    name = "burgers_inverse"
    summary = "PINN inverse problem: Burgers' viscosity from 2000 noisy observations"
    Config = BurgersInverseConfig

    def build(self, network):
        from pdekit.models import build_network
        from pdekit.pinn import PINN, Benchmark, Interval, Observation, TimeInterval, burgers_cole_hopf, space_time_grid

        c = self.config
        rng = np.random.default_rng(c.seed)
        pts = np.column_stack([rng.uniform(-1, 1, c.observations), rng.uniform(0, 1, c.observations)])
        exact = np.array([burgers_cole_hopf(np.array([p[0]]), np.array([p[1]]), c.nu_true)[0, 0] for p in pts])
        observed = exact + c.noise * exact.std() * rng.standard_normal(len(exact))
        residual, conditions = _pinn_parts(lambda coeffs: torch.exp(coeffs["log_nu"]), True)
        pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), residual, build_network(network, 2),
                    conditions + [Observation(pts, observed)], coefficients={"log_nu": math.log(c.nu_init)})
        x, t = np.linspace(-1, 1, 256), np.linspace(0, 1, 101)

        def extra(p):
            nu = math.exp(float(p.coefficients["log_nu"].detach()))
            return {"nu": nu, "nu_true": c.nu_true, "nu_rel_error": abs(nu / c.nu_true - 1)}

        return Benchmark(pinn, {"x": x, "t": t}, space_time_grid(x, t), burgers_cole_hopf(x, t, c.nu_true), extra)
