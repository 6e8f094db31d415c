"""U-Net for 1D and 2D grids, in the modern PDEArena style: residual blocks with group norm and
GELU, strided-convolution downsampling, interpolation upsampling to the skip's exact size (so any
grid size works, 85 x 85 included)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model
from pdekit.nn import GridPadding, activation, conv_nd, grid_channels


def _norm(channels: int) -> nn.GroupNorm:
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ResidualBlock(nn.Module):
    """Two 3-point (3 x 3) convolutions with pre-activation group norm and a shortcut; with an
    embedding (``emb_dim`` > 0), the second norm's output is scaled and shifted by a linear map of
    it (FiLM, PDEArena's scale-shift conditioning)."""

    def __init__(self, ndim: int, cin: int, cout: int, act: str, norm: bool, padding_mode: str = "zeros",
                 emb_dim: int = 0):
        super().__init__()
        self.norm1 = _norm(cin) if norm else nn.Identity()
        self.conv1 = conv_nd(ndim, cin, cout, 3, padding=1, padding_mode=padding_mode)
        self.norm2 = _norm(cout) if norm else nn.Identity()
        self.conv2 = conv_nd(ndim, cout, cout, 3, padding=1, padding_mode=padding_mode)
        self.act = activation(act)
        self.shortcut = conv_nd(ndim, cin, cout, 1) if cin != cout else nn.Identity()
        if emb_dim:
            self.film = nn.Linear(emb_dim, 2 * cout)

    def forward(self, x, emb=None):
        """``x`` (batch, cin, *space), ``emb`` (batch, emb_dim) or None."""
        h = self.norm2(self.conv1(self.act(self.norm1(x))))
        if emb is not None:
            scale, shift = self.film(emb)[(...,) + (None,) * (h.ndim - 2)].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.conv2(self.act(h))
        return h + self.shortcut(x)


@register_model("unet")
class UNet(GridPadding, nn.Module):
    """Modern U-Net (as in PDEArena, Gupta and Brandstetter, "Towards Multi-spatiotemporal-scale
    Generalized PDE Modeling", 2022): residual blocks with group norm, strided-convolution
    downsampling and nearest-neighbour upsampling with skip connections (PDEArena upsamples by a
    transposed convolution and keeps one skip per block; here one skip per level). Maps
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
    padding_mode : "zeros", "circular" (the 3 x 3 convolutions wrap around), or "auto": circular
        on a periodic grid, zeros on nodes (on periodic Kuramoto-Sivashinsky rollouts circular
        padding is 3x more accurate, docs/benchmarks.md).
    cond_channels : scalars the model is conditioned on (PDE parameters, the time step), passed as
        ``model(x, cond)`` with ``cond`` (batch, cond_channels); an MLP embeds them and every residual
        block scales and shifts its features by a linear map of the embedding (PDEArena's
        conditioning). Scale them to order one. 0: no conditioning.
    """

    summary = "U-Net (PDEArena-style residual blocks, group norm), 1D/2D"
    resolution_invariant = False
    old_padding = "zeros"  # its default before grid revision 3
    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 2, grid: str = "nodes", hidden: int = 32,
                 channel_mults: list = (1, 2, 2, 4), blocks_per_level: int = 1, use_grid: bool = True,
                 norm: bool = True, activation_fn: str = "gelu", padding_mode: str = "auto", cond_channels: int = 0):
        super().__init__()
        check_grid("UNet", grid)
        self.grid = grid  # "nodes" or "periodic": where the data's points lie (set from the data)
        if ndim not in (1, 2):
            raise ConfigError(f"UNet supports 1 or 2 spatial dimensions, got {ndim}")
        if hidden < 1 or blocks_per_level < 1 or not channel_mults:
            raise ConfigError("model.hidden and model.blocks_per_level must be positive, channel_mults non-empty")
        if padding_mode not in ("auto", "zeros", "circular"):
            raise ConfigError(f"UNet: padding_mode must be auto, zeros or circular, got {padding_mode!r}")
        if cond_channels < 0:
            raise ConfigError(f"UNet: cond_channels must be >= 0, got {cond_channels}")
        self.ndim, self.use_grid, self.cond_channels = ndim, use_grid, cond_channels
        pm = self._padding(padding_mode, grid)
        emb = 4 * hidden if cond_channels else 0
        if cond_channels:
            self.embed = nn.Sequential(nn.Linear(cond_channels, emb), activation(activation_fn), nn.Linear(emb, emb))
        self.inp = conv_nd(ndim, in_channels + (ndim if use_grid else 0), hidden, 3, padding=1, padding_mode=pm)
        chans = [hidden * m for m in channel_mults]
        self.down_blocks, self.downsample = nn.ModuleList(), nn.ModuleList()
        c = hidden
        for i, ch in enumerate(chans):
            self.down_blocks.append(nn.Sequential(*[
                ResidualBlock(ndim, c if j == 0 else ch, ch, activation_fn, norm, pm, emb) for j in range(blocks_per_level)]))
            c = ch
            if i < len(chans) - 1:
                self.downsample.append(conv_nd(ndim, ch, ch, 3, stride=2, padding=1, padding_mode=pm))
        self.middle = ResidualBlock(ndim, c, c, activation_fn, norm, pm, emb)
        self.up_blocks = nn.ModuleList()
        for ch in reversed(chans[:-1]):
            self.up_blocks.append(nn.Sequential(
                ResidualBlock(ndim, c + ch, ch, activation_fn, norm, pm, emb),
                *[ResidualBlock(ndim, ch, ch, activation_fn, norm, pm, emb) for _ in range(blocks_per_level - 1)]))
            c = ch
        self.out = nn.Sequential(_norm(c) if norm else nn.Identity(), activation(activation_fn),
                                 conv_nd(ndim, c, out_channels, 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (batch, in_channels, *space); ``cond`` (batch, cond_channels) where the model is
        conditioned."""
        if (cond is None) != (self.cond_channels == 0):
            raise ConfigError(f"UNet: built with cond_channels = {self.cond_channels}; call it as "
                              f"{'model(x, cond)' if self.cond_channels else 'model(x)'}")
        emb = None if cond is None else self.embed(cond.to(x.dtype).reshape(len(x), self.cond_channels))
        if self.use_grid:
            x = grid_channels(x, self.ndim, self.grid == "periodic")
        h = self.inp(x)
        skips = []
        for i, level in enumerate(self.down_blocks):
            for block in level:
                h = block(h, emb)
            if i < len(self.downsample):
                skips.append(h)
                h = self.downsample[i](h)
        h = self.middle(h, emb)
        for level in self.up_blocks:
            skip = skips.pop()
            h = torch.cat([F.interpolate(h, size=skip.shape[2:], mode="nearest"), skip], dim=1)
            for block in level:
                h = block(h, emb)
        return self.out(h)
