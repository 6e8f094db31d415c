"""Small building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn

from pdekit.errors import ConfigError

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def conv_nd(ndim: int, *args, **kwargs) -> nn.Module:
    """nn.Conv1d / Conv2d / Conv3d by number of spatial dimensions."""
    return (nn.Conv1d, nn.Conv2d, nn.Conv3d)[ndim - 1](*args, **kwargs)


def channel_mlp(ndim: int, sizes: list[int], act: str = "gelu") -> nn.Sequential:
    """Pointwise MLP over channels (1x1 convolutions), activation between layers."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(activation(act))
        layers.append(conv_nd(ndim, a, b, 1))
    return nn.Sequential(*layers)


def grid_channels(x: torch.Tensor, ndim: int, periodic: bool = False) -> torch.Tensor:
    """Append coordinates (one channel per spatial dimension) to x (batch, c, *space): the data's own
    points, j / n on a periodic grid, j / (n - 1) on a node grid with both ends, so a point has the
    same coordinate at every resolution."""
    batch, space = x.shape[0], x.shape[2:]
    axes = [torch.arange(n, device=x.device, dtype=x.dtype) / n if periodic else
            torch.linspace(0, 1, n, device=x.device, dtype=x.dtype) for n in space]
    mesh = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack(mesh).unsqueeze(0).expand(batch, ndim, *space)
    return torch.cat([x, grid], dim=1)
