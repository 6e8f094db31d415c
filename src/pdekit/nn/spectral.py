"""Fourier layer: multiply the lowest Fourier modes of a field by learned complex weights.

The kept modes are k = 0..m-1 along the last (rfft) axis and k = -m..m-1 along the others
(stored as one block, positive then negative frequencies). Weights are dense or factorized
(Tucker or CP, as in the TFNO of Kossaifi et al.); a factorized weight is rebuilt densely at each
call, which is cheap next to the FFTs and keeps one contraction path.
"""

from __future__ import annotations

import math
import string

import torch
from torch import nn

from pdekit.errors import ConfigError


def _tucker_ranks(dims: list[int], fraction: float) -> list[int]:
    """Per-mode ranks s * dim with s chosen so core + factors hold about ``fraction`` of the weights."""
    full = math.prod(dims)

    def size(s):
        ranks = [max(1, round(s * d)) for d in dims]
        return math.prod(ranks) + sum(r * d for r, d in zip(ranks, dims)), ranks

    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if size(mid)[0] <= fraction * full else (lo, mid)
    return size(lo)[1]


class SpectralConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...],
                 factorization: str | None = None, rank: float = 1.0):
        super().__init__()
        self.modes = tuple(int(m) for m in modes)
        self.ndim = len(self.modes)
        self.factorization = factorization
        dims = [in_channels, out_channels] + [2 * m for m in self.modes[:-1]] + [self.modes[-1]]
        self.weight_shape = tuple(dims)
        scale = 1.0 / (in_channels * out_channels)
        if factorization is None:
            self.weight = nn.Parameter(scale * torch.rand(*dims, dtype=torch.cfloat))
        elif factorization == "tucker":
            ranks = _tucker_ranks(dims, rank)
            # each factor has unit-scale columns, so the core carries the overall scale
            self.core = nn.Parameter(scale * torch.rand(*ranks, dtype=torch.cfloat))
            self.factors = nn.ParameterList(
                nn.Parameter(torch.rand(d, r, dtype=torch.cfloat) / math.sqrt(r)) for d, r in zip(dims, ranks))
        elif factorization == "cp":
            r = max(1, round(rank * math.prod(dims) / sum(dims)))
            self.cp_weights = nn.Parameter(torch.ones(r, dtype=torch.cfloat) * scale ** (1 / len(dims)))
            self.factors = nn.ParameterList(
                nn.Parameter(torch.rand(d, r, dtype=torch.cfloat) * scale ** (1 / len(dims))) for d in dims)
        else:
            raise ConfigError(f"unknown factorization '{factorization}'; choose none, tucker or cp")

    def full_weight(self) -> torch.Tensor:
        if self.factorization is None:
            return self.weight
        letters = string.ascii_letters
        d = len(self.weight_shape)
        out = letters[:d]
        if self.factorization == "tucker":
            ranks = letters[d : 2 * d]
            expr = ranks + "," + ",".join(out[i] + ranks[i] for i in range(d)) + "->" + out
            return torch.einsum(expr, self.core, *self.factors)
        expr = "z," + ",".join(out[i] + "z" for i in range(d)) + "->" + out
        return torch.einsum(expr, self.cp_weights, *self.factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(-self.ndim, 0))
        space = x.shape[-self.ndim:]
        dtype = x.dtype
        x_ft = torch.fft.rfftn(x.float(), dim=dims)
        modes = [min(m, n // 2) for m, n in zip(self.modes[:-1], space[:-1])]
        modes.append(min(self.modes[-1], space[-1] // 2 + 1))
        block = x_ft[..., : modes[-1]]
        weight = self.full_weight()[..., : modes[-1]]
        for axis, (m, full_m) in enumerate(zip(modes[:-1], self.modes[:-1])):
            dim = 2 + axis
            block = torch.cat([block.narrow(dim, 0, m), block.narrow(dim, block.shape[dim] - m, m)], dim=dim)
            w = weight
            weight = torch.cat([w.narrow(dim, 0, m), w.narrow(dim, 2 * full_m - m, m)], dim=dim)
        letters = "xyz"[: self.ndim]
        out_block = torch.einsum(f"bi{letters},io{letters}->bo{letters}", block, weight)
        out_ft = torch.zeros(x.shape[0], weight.shape[1], *x_ft.shape[2:], dtype=x_ft.dtype, device=x.device)
        if self.ndim == 1:
            out_ft[..., : modes[0]] = out_block
        else:
            self._scatter(out_ft, out_block, modes)
        return torch.fft.irfftn(out_ft, s=space, dim=dims).to(dtype)

    def _scatter(self, out_ft, out_block, modes):
        """Write the corner blocks (positive / negative frequencies per non-last axis) into out_ft."""
        corners = [[(slice(0, m), slice(0, m)), (slice(-m, None), slice(m, 2 * m))] for m in modes[:-1]]
        last = slice(0, modes[-1])
        for choice in range(2 ** (self.ndim - 1)):
            dst, src = [slice(None), slice(None)], [slice(None), slice(None)]
            for axis, options in enumerate(corners):
                d, s = options[(choice >> axis) & 1]
                dst.append(d)
                src.append(s)
            out_ft[tuple(dst + [last])] = out_block[tuple(src + [last])]
