"""U-Net for 1D and 2D grids, in the modern PDEArena style: residual blocks with group norm and
GELU, strided-convolution downsampling, interpolation upsampling to the skip's exact size (so any
grid size works, 85 x 85 included)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import register_model
from pdekit.nn import activation, conv_nd, grid_channels


def _norm(channels: int) -> nn.GroupNorm:
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ResidualBlock(nn.Module):
    def __init__(self, ndim: int, cin: int, cout: int, act: str, norm: bool, padding_mode: str = "zeros"):
        super().__init__()
        self.norm1 = _norm(cin) if norm else nn.Identity()
        self.conv1 = conv_nd(ndim, cin, cout, 3, padding=1, padding_mode=padding_mode)
        self.norm2 = _norm(cout) if norm else nn.Identity()
        self.conv2 = conv_nd(ndim, cout, cout, 3, padding=1, padding_mode=padding_mode)
        self.act = activation(act)
        self.shortcut = conv_nd(ndim, cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.act(self.norm2(h)))
        return h + self.shortcut(x)


@register_model("unet")
class UNet(nn.Module):
    """Modern U-Net (as in PDEArena, Gupta and Brandstetter, "Towards Multi-spatiotemporal-scale
    Generalized PDE Modeling", 2022): residual blocks with group norm, strided-convolution
    downsampling and nearest-neighbour upsampling with skip connections. Maps
    ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)``; any grid size, but its
    kernels are in grid cells, so it is not resolution-invariant.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 or 2.
    grid : where the data's points lie, for the coordinate channels: "nodes" (x_j = j / (n - 1))
        or "periodic" (x_j = j / n); set from the data by recipes.
    hidden : channels at the finest level.
    channel_mults : channels of each level as multiples of ``hidden`` (one level per entry).
    blocks_per_level : residual blocks per level.
    use_grid : append the coordinates as input channels.
    norm : group normalization in the residual blocks.
    activation_fn : "gelu", "relu", "tanh" or "silu".
    padding_mode : "zeros", or "circular" for periodic data (the 3 x 3 convolutions wrap around).
    """

    summary = "U-Net (PDEArena-style residual blocks, group norm), 1D/2D"
    resolution_invariant = False

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 2, grid: str = "nodes", hidden: int = 32,
                 channel_mults: list = (1, 2, 2, 4), blocks_per_level: int = 1, use_grid: bool = True,
                 norm: bool = True, activation_fn: str = "gelu", padding_mode: str = "zeros"):
        super().__init__()
        self.grid = grid  # "nodes" or "periodic": where the data's points lie (set from the data)
        if ndim not in (1, 2):
            raise ConfigError(f"UNet supports 1 or 2 spatial dimensions, got {ndim}")
        if hidden < 1 or blocks_per_level < 1 or not channel_mults:
            raise ConfigError("model.hidden and model.blocks_per_level must be positive, channel_mults non-empty")
        if padding_mode not in ("zeros", "circular"):
            raise ConfigError(f"UNet: padding_mode must be zeros or circular, got {padding_mode!r}")
        self.ndim, self.use_grid = ndim, use_grid
        pm = padding_mode
        self.inp = conv_nd(ndim, in_channels + (ndim if use_grid else 0), hidden, 3, padding=1, padding_mode=pm)
        chans = [hidden * m for m in channel_mults]
        self.down_blocks, self.downsample = nn.ModuleList(), nn.ModuleList()
        c = hidden
        for i, ch in enumerate(chans):
            self.down_blocks.append(nn.Sequential(*[ResidualBlock(ndim, c if j == 0 else ch, ch, activation_fn, norm, pm)
                                                    for j in range(blocks_per_level)]))
            c = ch
            if i < len(chans) - 1:
                self.downsample.append(conv_nd(ndim, ch, ch, 3, stride=2, padding=1, padding_mode=pm))
        self.middle = ResidualBlock(ndim, c, c, activation_fn, norm, pm)
        self.up_blocks = nn.ModuleList()
        for ch in reversed(chans[:-1]):
            self.up_blocks.append(nn.Sequential(
                ResidualBlock(ndim, c + ch, ch, activation_fn, norm, pm),
                *[ResidualBlock(ndim, ch, ch, activation_fn, norm, pm) for _ in range(blocks_per_level - 1)]))
            c = ch
        self.out = nn.Sequential(_norm(c) if norm else nn.Identity(), activation(activation_fn),
                                 conv_nd(ndim, c, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_grid:
            x = grid_channels(x, self.ndim, self.grid == "periodic")
        h = self.inp(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h)
            if i < len(self.downsample):
                skips.append(h)
                h = self.downsample[i](h)
        h = self.middle(h)
        for block in self.up_blocks:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1))
        return self.out(h)
