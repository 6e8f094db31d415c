"""Fourier neural operator (Li et al. 2021) for 1D, 2D and 3D grids, dense or factorized (TFNO)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import register_model
from pdekit.nn import SpectralConv, activation, conv_nd, grid_channels, mlp


@register_model("fno")
class FNO(nn.Module):
    """Fourier neural operator (Li et al., "Fourier Neural Operator for Parametric Partial
    Differential Equations", ICLR 2021): lift (channel MLP) -> ``depth`` x [spectral convolution +
    1x1 skip, activation] -> project (channel MLP). Factorized spectral weights give the TFNO
    (Kossaifi et al., "Multi-Grid Tensorized Fourier Neural Operator", TMLR 2023). Maps
    ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)`` at any resolution.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 to 3 (None: one per entry of ``modes``, 1 for an int).
    grid : where the data's points lie, for the coordinate channels: "nodes" (x_j = j / (n - 1))
        or "periodic" (x_j = j / n); set from the data by recipes.
    modes : Fourier modes kept per dimension, in the paper's convention: 16 keeps k = 0..15 along
        the last axis and k = -16..15 along the others (neuraloperator's ``n_modes`` counts both
        signs: its 32 is this 16). An int applies to every dimension.
    width : channels inside the Fourier layers (neuraloperator's ``hidden_channels``).
    depth : number of Fourier layers.
    lifting_channels, projection_channels : hidden width of the lifting and projection MLPs
        (0 lifting channels: a single linear lift).
    use_grid : append the coordinates as input channels.
    factorization : "none" (dense weights), "tucker" or "cp".
    rank : with a factorization, its size as a fraction of the dense weights, in (0, 1].
    activation_fn : "gelu", "relu", "tanh" or "silu".
    padding : fraction of each dimension zero-padded on the far side, in [0, 1) (non-periodic data).
    """

    summary = "Fourier neural operator, 1D/2D/3D, dense or Tucker/CP-factorized spectral weights"
    resolution_invariant = True

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int | None = None, grid: str = "nodes",
                 modes: list = 16, width: int = 64, depth: int = 4, lifting_channels: int = 128, projection_channels: int = 128,
                 use_grid: bool = True, factorization: str = "none", rank: float = 1.0,
                 activation_fn: str = "gelu", padding: float = 0.0):
        super().__init__()
        self.grid = grid  # "nodes" or "periodic": where the data's points lie (set from the data)
        if ndim is None:  # from modes: one count per spatial dimension, or 1D for a single int
            ndim = 1 if isinstance(modes, int) else len(modes)
        if ndim not in (1, 2, 3):
            raise ConfigError(f"FNO supports 1, 2 or 3 spatial dimensions, got {ndim}")
        modes = [modes] * ndim if isinstance(modes, int) else list(modes)
        if len(modes) != ndim or min(modes) < 1:
            raise ConfigError(f"FNO: modes (model.modes in a recipe) must be a positive int or one positive int "
                              f"per spatial dimension ({ndim} here), got {modes}")
        if width < 1 or depth < 1:
            raise ConfigError(f"FNO: width and depth must be positive, got {width} and {depth}")
        if not 0 < rank <= 1:
            raise ConfigError(f"FNO: rank must lie in (0, 1], got {rank}")
        if not 0 <= padding < 1:
            raise ConfigError(f"FNO: padding must lie in [0, 1), got {padding}")
        self.ndim, self.use_grid, self.padding = ndim, use_grid, padding
        lift_in = in_channels + (ndim if use_grid else 0)
        self.lift = mlp([lift_in, lifting_channels, width] if lifting_channels else [lift_in, width],
                        activation_fn, ndim)
        factor = None if factorization in (None, "none", "dense") else factorization
        self.spectral = nn.ModuleList(SpectralConv(width, width, tuple(modes), factor, rank) for _ in range(depth))
        self.skips = nn.ModuleList(conv_nd(ndim, width, width, 1) for _ in range(depth))
        self.act = activation(activation_fn)
        self.project = mlp([width, projection_channels, out_channels], activation_fn, ndim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_grid:
            x = grid_channels(x, self.ndim, self.grid == "periodic")
        x = self.lift(x)
        space = x.shape[2:]
        if self.padding:
            pad = [p for n in reversed(space) for p in (0, max(1, round(self.padding * n)))]
            x = F.pad(x, pad)
        last = len(self.spectral) - 1
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skips)):
            x = spectral(x) + skip(x)
            if i < last:
                x = self.act(x)
        if self.padding:
            x = x[(Ellipsis, *(slice(0, n) for n in space))]
        return self.project(x)
