"""Neural ODEs (Chen et al., "Neural ordinary differential equations", NeurIPS 2018) on top of
torchdiffeq: an ``ODEBlock`` that integrates a learned vector field, and a latent neural ODE
model for grids (encoder, ODE in the latent space, decoder).

Gradients come from backpropagation through the solver's steps (``adjoint: false``; memory grows
with the number of steps) or from the adjoint method (``adjoint: true``; constant memory in the
horizon, one more backward ODE solve). Adaptive solvers (``dopri5``, ``bosh3``, ...) choose their
steps from ``rtol`` and ``atol``; fixed-step ones (``rk4``, ``euler``, ...) take ``step_size``.
The number of function evaluations (NFE) is counted by every block (``nfe``, ``calls``).
The torchdiffeq package is an extra: ``pip install 'pdekit[node]'``.
"""

from __future__ import annotations

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import refuse_nodes, register_model
from pdekit.nn import conv_nd

ADAPTIVE = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")
FIXED = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")


def _torchdiffeq():
    try:
        import torchdiffeq
    except ImportError:
        raise ConfigError("neural ODEs need torchdiffeq: pip install 'pdekit[node]' (or pip install torchdiffeq)") from None
    return torchdiffeq


class _Counted(nn.Module):
    """The vector field f(t, z) with a count of its evaluations (forward solves and, with the
    adjoint, the backward one)."""

    def __init__(self, func: nn.Module):
        super().__init__()
        self.func, self.nfe = func, 0

    def forward(self, t, z):
        self.nfe += 1
        return self.func(z)


class ODEBlock(nn.Module):
    """z(t1) from z(t0) = z by dz/dt = func(z), a continuous-depth layer.

    Parameters
    ----------
    func : an autonomous vector field, a module mapping z to dz/dt (same shape).
    method : a torchdiffeq solver: adaptive (dopri5, dopri8, bosh3, adaptive_heun, fehlberg2) or
        fixed-step (euler, midpoint, rk4, explicit_adams, implicit_adams).
    rtol, atol : tolerances of an adaptive solver.
    step_size : the step of a fixed-step solver (0: one step over the interval).
    adjoint : gradients by the adjoint method (constant memory) instead of through the steps.
    """

    def __init__(self, func: nn.Module, method: str = "dopri5", rtol: float = 1e-3, atol: float = 1e-4,
                 step_size: float = 0.0, adjoint: bool = False):
        super().__init__()
        if method not in ADAPTIVE + FIXED:
            raise ConfigError(f"unknown ODE solver '{method}'; adaptive: {', '.join(ADAPTIVE)}; fixed-step: "
                              f"{', '.join(FIXED)}")
        if rtol <= 0 or atol <= 0 or step_size < 0:
            raise ConfigError(f"rtol and atol must be > 0 and step_size >= 0, got {rtol}, {atol}, {step_size}")
        self.field, self.method, self.rtol, self.atol = _Counted(func), method, rtol, atol
        self.step_size, self.adjoint, self.calls = step_size, adjoint, 0

    @property
    def nfe(self) -> int:
        """Function evaluations since the last ``reset``."""
        return self.field.nfe

    def reset(self) -> None:
        """Zero the counts of function evaluations and of calls."""
        self.field.nfe, self.calls = 0, 0

    def forward(self, z: torch.Tensor, t1: float = 1.0, t0: float = 0.0) -> torch.Tensor:
        lib = _torchdiffeq()
        t = torch.tensor([t0, t1], dtype=z.dtype, device=z.device)
        options = {"step_size": self.step_size or abs(t1 - t0)} if self.method in FIXED else None
        solve = lib.odeint_adjoint if self.adjoint else lib.odeint
        extra = {"adjoint_params": tuple(self.field.parameters())} if self.adjoint else {}
        self.calls += 1
        return solve(self.field, z, t, method=self.method, rtol=self.rtol, atol=self.atol, options=options,
                     **extra)[-1]


class _Field(nn.Module):
    """A convolutional vector field on the latent grid."""

    def __init__(self, channels: int, hidden: int, ndim: int, kernel_size: int):
        super().__init__()
        pad = kernel_size // 2
        self.net = nn.Sequential(conv_nd(ndim, channels, hidden, kernel_size, padding=pad, padding_mode="circular"),
                                 nn.Tanh(),
                                 conv_nd(ndim, hidden, hidden, kernel_size, padding=pad, padding_mode="circular"),
                                 nn.Tanh(), conv_nd(ndim, hidden, channels, 1))

    def forward(self, z):
        return self.net(z)


@register_model("latent_ode")
class LatentODE(nn.Module):
    """A latent neural ODE on a periodic grid: a pointwise encoder to ``latent`` channels, an
    ``ODEBlock`` over unit time with a convolutional vector field, a pointwise decoder. Maps
    ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)``; as a rollout model (target
    state) one call advances one stored step.

    Parameters
    ----------
    in_channels, out_channels, ndim : set from the data (1D or 2D).
    grid : where the data's points lie (set from the data): "periodic" only, as the vector field's
        convolutions wrap around the ends.
    latent : channels of the latent state.
    hidden : channels inside the vector field.
    kernel_size : the vector field's convolution kernel, in grid cells.
    method, rtol, atol, step_size, adjoint : the ODE solver (see ``ODEBlock``).
    """

    summary = "latent neural ODE (torchdiffeq; adaptive or fixed-step, adjoint), 1D/2D periodic"
    resolution_invariant = False
    periodic_only = True  # (refuse_nodes)

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 1, grid: str = "periodic",
                 latent: int = 16, hidden: int = 32, kernel_size: int = 5, method: str = "dopri5", rtol: float = 1e-3,
                 atol: float = 1e-4, step_size: float = 0.0, adjoint: bool = False):
        super().__init__()
        if ndim not in (1, 2) or kernel_size % 2 == 0:
            raise ConfigError(f"model latent_ode works in 1D or 2D with an odd kernel_size, got ndim = {ndim}, "
                              f"kernel_size = {kernel_size}")
        refuse_nodes("latent_ode", grid)
        self.encode = conv_nd(ndim, in_channels, latent, 1)
        self.ode = ODEBlock(_Field(latent, hidden, ndim, kernel_size), method, rtol, atol, step_size, adjoint)
        self.decode = conv_nd(ndim, latent, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.ode(self.encode(x)))

    def reset(self) -> None:
        """Zero the ODE block's counts (before a run's test rollouts)."""
        self.ode.reset()

    def report(self, wrapper) -> dict:
        """The mean number of function evaluations per call since the block's counts were reset
        (a run's test rollouts and stability check)."""
        block = self.ode
        return {"nfe_per_step": block.nfe / block.calls if block.calls else None, "ode_method": block.method}
