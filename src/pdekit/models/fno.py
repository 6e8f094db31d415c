"""Fourier neural operator (Li et al. 2021) for 1D, 2D and 3D grids, dense or factorized (TFNO)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model, renamed_arguments
from pdekit.nn import SpectralConv, activation, conv_nd, grid_channels, mlp


class _DefaultModes(int):
    """The default mode count, 16, told apart from a 16 the caller gave: modes and n_modes
    together are refused, also when modes is 16."""


DEFAULT_MODES = _DefaultModes(16)


@register_model("fno")
class FNO(nn.Module):
    """Fourier neural operator (Li et al., "Fourier Neural Operator for Parametric Partial
    Differential Equations", ICLR 2021): lift (channel MLP) -> ``n_layers`` x [spectral convolution +
    1x1 skip, activation] -> project (channel MLP). Factorized spectral weights give the TFNO
    (Kossaifi et al., "Multi-Grid Tensorized Fourier Neural Operator", TMLR 2023). Maps
    ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)`` at any resolution.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 to 3 (None: one per entry of ``n_modes`` or ``modes``, 1 for an
        int).
    grid : where the data's points lie, for the coordinate channels: "nodes" (x_j = j / (n - 1))
        or "periodic" (x_j = j / n); set from the data by recipes.
    modes : Fourier modes kept per dimension, in the paper's convention: 16 keeps k = 0..15 along
        the last axis and k = -16..15 along the others. An int applies to every dimension.
    n_modes : the same choice in neuraloperator's convention, instead of ``modes``: n keeps
        k = -n/2..n/2-1 along the other axes and k = 0..n/2 along the last, exactly the modes
        neuraloperator's FNO(n_modes=...) keeps (``modes = n // 2``, ``n // 2 + 1`` for the last).
    hidden_channels : channels inside the Fourier layers (the paper's width; ``width`` is read
        with a note).
    n_layers : number of Fourier layers (``depth`` is read with a note).
    lifting_channels : hidden width of the lifting MLP, inputs to hidden_channels (0: a single
        linear layer).
    projection_channels : hidden width of the projection MLP, hidden_channels to the outputs (0: a
        single linear layer).
    use_grid : append the coordinates as input channels.
    factorization : "none" (dense weights), "tucker" or "cp".
    rank : with a factorization, its size as a fraction of the dense weights, in (0, 1].
    activation_fn : "gelu", "relu", "tanh" or "silu".
    padding : fraction of each dimension zero-padded on the far side, in [0, 1) (non-periodic data);
        a list gives one fraction per dimension (the FNO-3D pads its time axis only: [0.15, 0, 0]).
    old_names : ``width`` and ``depth``, the earlier names of hidden_channels and n_layers.
    """

    summary = "Fourier neural operator, 1D/2D/3D, dense or Tucker/CP-factorized spectral weights"
    resolution_invariant = True
    renamed = {"width": "hidden_channels", "depth": "n_layers"}  # earlier names, still read (with a note)
    zero_allowed = ("lifting_channels", "projection_channels")  # 0: a linear lift or projection
    exclusive = (("modes", "n_modes"),)  # the paper's convention or neuraloperator's

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int | None = None, grid: str = "nodes",
                 modes: list = DEFAULT_MODES, n_modes: list | None = None, hidden_channels: int = 64,
                 n_layers: int = 4, lifting_channels: int = 128, projection_channels: int = 128,
                 use_grid: bool = True, factorization: str = "none", rank: float = 1.0, activation_fn: str = "gelu",
                 padding: float | list = 0.0, **old_names):
        super().__init__()
        given = renamed_arguments(self, old_names, {"hidden_channels": hidden_channels, "n_layers": n_layers})
        hidden_channels, n_layers = given["hidden_channels"], given["n_layers"]
        check_grid("FNO", grid)
        self.grid = grid  # "nodes" or "periodic": where the data's points lie (set from the data)
        counts = modes if n_modes is None else n_modes
        if ndim is None:  # from the mode counts: one per spatial dimension, or 1D for a single int
            ndim = 1 if isinstance(counts, int) else len(counts)
        if ndim not in (1, 2, 3):
            raise ConfigError(f"FNO supports 1, 2 or 3 spatial dimensions, got {ndim}")
        counts = [counts] * ndim if isinstance(counts, int) else list(counts)
        name = "modes" if n_modes is None else "n_modes"
        if len(counts) != ndim or min(counts) < 1:
            raise ConfigError(f"FNO: {name} (model.{name} in a recipe) must be a positive int or one positive int "
                              f"per spatial dimension ({ndim} here), got {counts}")
        if n_modes is not None and any(n % 2 for n in counts[:-1]):
            raise ConfigError(f"FNO: n_modes must be even along all but the last axis (n keeps k = -n/2..n/2-1), got "
                              f"{counts}")
        if n_modes is not None:
            if modes is not DEFAULT_MODES:
                raise ConfigError("FNO: give modes (the paper's convention) or n_modes (neuraloperator's), not both")
            modes = [n // 2 for n in counts[:-1]] + [counts[-1] // 2 + 1]
        else:
            modes = counts
        if hidden_channels < 1 or n_layers < 1:
            raise ConfigError(f"FNO: hidden_channels and n_layers must be positive, got {hidden_channels} and {n_layers}")
        if not 0 < rank <= 1:
            raise ConfigError(f"FNO: rank must lie in (0, 1], got {rank}")
        pads = list(padding) if isinstance(padding, (list, tuple)) else [padding] * ndim
        if len(pads) != ndim or not all(0 <= p < 1 for p in pads):
            raise ConfigError(f"FNO: padding must lie in [0, 1), one number or one per spatial dimension ({ndim} "
                              f"here), got {padding}")
        self.ndim, self.use_grid, self.padding = ndim, use_grid, [float(p) for p in pads]
        lift_in = in_channels + (ndim if use_grid else 0)
        width = hidden_channels
        self.lift = mlp([lift_in, lifting_channels, width] if lifting_channels else [lift_in, width],
                        activation_fn, ndim)
        factor = None if factorization in (None, "none", "dense") else factorization
        self.spectral = nn.ModuleList(SpectralConv(width, width, tuple(modes), factor, rank) for _ in range(n_layers))
        self.skips = nn.ModuleList(conv_nd(ndim, width, width, 1) for _ in range(n_layers))
        self.act = activation(activation_fn)
        self.project = mlp([width, projection_channels, out_channels] if projection_channels else [width, out_channels],
                           activation_fn, ndim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_grid:
            x = grid_channels(x, self.ndim, self.grid == "periodic")
        x = self.lift(x)
        space = x.shape[2:]
        padded = any(self.padding)
        if padded:
            pad = [p for n, f in zip(reversed(space), reversed(self.padding)) for p in (0, max(1, round(f * n)) if f else 0)]
            x = F.pad(x, pad)
        last = len(self.spectral) - 1
        for i in range(last + 1):
            x = self.kernel(i, x, space)
            if i < last:
                x = self.act(x)
        if padded:
            x = x[(Ellipsis, *(slice(0, n) for n in space))]
        return self.project(x)

    def kernel(self, layer: int, x: torch.Tensor, space: tuple) -> torch.Tensor:
        """The linear part of Fourier layer ``layer``: spectral convolution + 1x1 skip (``space``: the
        unpadded grid, for subclasses whose kernels depend on the grid spacing)."""
        return self.spectral[layer](x) + self.skips[layer](x)
