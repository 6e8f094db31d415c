"""A plain convolutional ResNet baseline at constant resolution."""

from __future__ import annotations

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model
from pdekit.nn import GridPadding, activation, conv_nd, grid_channels


@register_model("resnet")
class ResNet(GridPadding, nn.Module):
    """Convolutional ResNet baseline: a stack of residual convolution blocks at the input's
    resolution. Maps ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)``; its
    kernels are in grid cells, so it is not resolution-invariant.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 to 3.
    grid : where the data's points lie, for the coordinate channels: "nodes" (x_j = j / (n - 1))
        or "periodic" (x_j = j / n); set from the data by recipes.
    width : channels of the hidden layers.
    depth : number of residual blocks (two convolutions each).
    kernel_size : convolution kernel size in grid cells.
    use_grid : append the coordinates as input channels.
    padding_mode : "circular", "zeros", "reflect", "replicate", or "auto": circular on a periodic
        grid, zeros on nodes.
    activation_fn : "gelu", "relu", "tanh" or "silu".
    """

    summary = "convolutional ResNet baseline, 1D/2D/3D"
    resolution_invariant = False
    old_padding = "circular"  # its default before grid revision 3

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 1, grid: str = "nodes", width: int = 64,
                 depth: int = 6, kernel_size: int = 5, use_grid: bool = True, padding_mode: str = "auto",
                 activation_fn: str = "gelu"):
        super().__init__()
        check_grid("ResNet", grid)
        self.grid = grid  # "nodes" or "periodic": where the data's points lie (set from the data)
        if padding_mode not in ("auto", "circular", "zeros", "reflect", "replicate"):
            raise ConfigError(f"model.padding_mode must be auto, circular, zeros, reflect or replicate, got "
                              f"{padding_mode}")
        padding_mode = self._padding(padding_mode, grid)
        if kernel_size % 2 == 0 or kernel_size < 1:
            raise ConfigError(f"model.kernel_size must be odd, got {kernel_size}")
        if width < 1 or depth < 1:  # (built directly: the registry checks both too)
            raise ConfigError(f"model.width and model.depth of resnet must be >= 1, got {width} and {depth}")
        self.ndim, self.use_grid = ndim, use_grid
        conv = lambda a, b: conv_nd(ndim, a, b, kernel_size, padding=kernel_size // 2, padding_mode=padding_mode)  # noqa: E731
        self.inp = conv_nd(ndim, in_channels + (ndim if use_grid else 0), width, 1)
        self.blocks = nn.ModuleList(nn.Sequential(conv(width, width), activation(activation_fn), conv(width, width))
                                    for _ in range(depth))
        self.act = activation(activation_fn)
        self.out = conv_nd(ndim, width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_grid:
            x = grid_channels(x, self.ndim, self.grid == "periodic")
        h = self.inp(x)
        for block in self.blocks:
            h = self.act(h + block(h))
        return self.out(h)
