"""Fourier layer: multiply the lowest Fourier modes of a field by learned complex weights.

When few modes are kept (4 m <= n along every axis, the usual case) the truncated transforms are
computed as matrix products with cached DFT bases instead of full FFTs: the same numbers to
rounding, and about twice as fast on CPUs, forward and backward, since only the kept modes are
ever formed. 3D grids and large mode counts use torch.fft.

The kept modes are k = 0..m-1 along the last (rfft) axis and k = -m..m-1 along the others
(stored as one block, positive then negative frequencies). Weights are dense or factorized
(Tucker or CP, as in the TFNO of Kossaifi et al.); a factorized weight is rebuilt densely at each
call, which is cheap next to the FFTs and keeps one contraction path.

Precision: the spectral part runs in float32, or in float64 for float64 input; model.double() and
model.to(torch.float64) turn the weights into complex128, so that both paths are then exact to
float64 rounding.
"""

from __future__ import annotations

import math
import string
import warnings

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.nn.layers import constant_cache, full_precision


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


@constant_cache
def _real_dft(n: int, m: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (n, 2m): x @ F = [Re | Im] of rfft modes 0..m-1; inverse (2m, n): [Re | Im] @ G is
    irfft of those modes (the others zero), the 1/n included."""
    k = torch.arange(m, dtype=torch.float64)
    angle = 2 * math.pi * torch.outer(torch.arange(n, dtype=torch.float64), k) / n
    forward = torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1)
    weight = torch.full((m,), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n % 2 == 0 and m - 1 == n // 2:
        weight[-1] = 1.0  # the Nyquist mode has no conjugate partner
    inverse = torch.cat([weight[:, None] * torch.cos(angle.T), -weight[:, None] * torch.sin(angle.T)]) / n
    return forward.to(device, dtype), inverse.to(device, dtype)


@constant_cache
def _complex_dft(n: int, m: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (2m, n) and inverse (n, 2m) DFT matrices for the modes k = 0..m-1, -m..-1 (1/n in
    the inverse)."""
    k = torch.cat([torch.arange(m), torch.arange(-m, 0)]).to(torch.float64)
    angle = 2 * math.pi * torch.outer(k, torch.arange(n, dtype=torch.float64)) / n
    forward = torch.polar(torch.ones_like(angle), -angle)
    inverse = torch.polar(torch.ones_like(angle), angle).T / n
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    return forward.to(device, cdtype), inverse.to(device, cdtype)


class SpectralConv(nn.Module):
    """Spectral convolution, the FNO's global kernel (Li et al., ICLR 2021): the input's lowest
    Fourier modes are multiplied by learned complex weights (a channel-mixing matrix per mode) and
    transformed back; the other modes are dropped. Maps ``(batch, in_channels, *space)`` to
    ``(batch, out_channels, *space)`` at any resolution (with at least the kept modes). Small
    grids use DFT matrix products, larger ones the FFT; both give the same result to rounding.

    Parameters
    ----------
    in_channels, out_channels : input and output channels.
    modes : modes kept per dimension (k = 0..m-1 along the last axis, k = -m..m-1 along the others).
    factorization : None (dense weights), "tucker" or "cp" (TFNO, Kossaifi et al., TMLR 2023).
    rank : with a factorization, its size as a fraction of the dense weights, in (0, 1].
    """

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
        # the factorized weights start from zero-mean complex normals (Tucker factors of variance
        # 1 / rank per entry, CP factors of variance 1, so that contracting keeps the scale; the core
        # or the CP weights, of variance scale^2 / r, carry ``scale``):
        # positive uniform factors, like the dense init, made every entry of the rebuilt weight nearly
        # the same and tripled the Darcy error of the trained TFNO (docs/benchmarks.md, tfno-gap)
        elif factorization == "tucker":
            ranks = _tucker_ranks(dims, rank)
            self.core = nn.Parameter(scale * torch.randn(*ranks, dtype=torch.cfloat))
            self.factors = nn.ParameterList(
                nn.Parameter(torch.randn(d, r, dtype=torch.cfloat) / math.sqrt(r)) for d, r in zip(dims, ranks))
        elif factorization == "cp":
            r = max(1, round(rank * math.prod(dims) / sum(dims)))
            self.cp_weights = nn.Parameter(scale * torch.randn(r, dtype=torch.cfloat) / math.sqrt(r))
            self.factors = nn.ParameterList(nn.Parameter(torch.randn(d, r, dtype=torch.cfloat)) for d in dims)
        else:
            raise ConfigError(f"unknown factorization '{factorization}'; choose none, tucker or cp")

    def _apply(self, fn, recurse=True):
        # Module.double() skips complex tensors and Module.to(torch.float64) drops their imaginary
        # parts: convert the weights through their real view, so that they follow the module's
        # precision (complex128 beside float64, complex64 otherwise, as the spectral part runs in
        # float32 under half precision).
        def convert(t):
            if not t.is_complex():
                return fn(t)
            # a flat (-1, 2) real view: a memory format (channels_last) applies to no 2D tensor
            real = fn(torch.view_as_real(t).reshape(-1, 2)).reshape(*t.shape, 2)
            return torch.view_as_complex(real if real.dtype == torch.float64 else real.float())

        return super()._apply(convert, recurse)

    def full_weight(self) -> torch.Tensor:
        """The dense complex weight of every kept mode.

        Returns
        -------
        torch.Tensor
            Shaped ``weight_shape``, (in_channels, out_channels, 2 m_1, ..., 2 m_(d-1), m_d): the
            parameter itself, or rebuilt from the Tucker core and factors or the CP weights and
            factors.
        """
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

    def _modes(self, space) -> tuple[list[int], list[int]]:
        """The modes this grid holds: per axis but the last, the positive count p (k = 0..p-1) and,
        apart, the negative count q (k = -q..-1), since an odd grid of n < 2 m points holds
        (n + 1) // 2 of the first and n // 2 of the second; then the last axis's count."""
        positive = [min(m, (n + 1) // 2) for m, n in zip(self.modes[:-1], space[:-1])]
        negative = [min(m, n // 2) for m, n in zip(self.modes[:-1], space[:-1])]
        return positive + [min(self.modes[-1], space[-1] // 2 + 1)], negative

    def _warn_untrained(self, space) -> None:
        """Warn (once per layer) when training on a grid too coarse for the modes: the weights of the
        modes it lacks, and the imaginary parts at its Nyquist modes (real there), get no gradient and
        keep their initial values, which a finer grid then uses."""
        held = [(n - 1) // 2 for n in space[:-1]] + [(space[-1] + 1) // 2]  # below Nyquist
        if all(m <= h for m, h in zip(self.modes, held)):
            return
        self._warned_untrained = True
        warnings.warn(f"a spectral layer with modes {list(self.modes)} trains on a grid of {list(space)} points, "
                      f"which holds {[min(m, h) for m, h in zip(self.modes, held)]} of them: the other modes' weights "
                      f"keep their random initial values and act on finer grids (as in zero-shot super-resolution); "
                      f"lower model.modes or train on a finer grid", stacklevel=2)

    def _weight(self, modes: list[int], negative: list[int]) -> torch.Tensor:
        """The weights of the kept modes (fewer where the grid is too coarse for all of them)."""
        weight = self.full_weight()[..., : modes[-1]]
        for axis, (p, q, full_m) in enumerate(zip(modes[:-1], negative, self.modes[:-1])):
            dim = 2 + axis
            weight = torch.cat([weight.narrow(dim, 0, p), weight.narrow(dim, 2 * full_m - q, q)], dim=dim)
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        space = x.shape[-self.ndim:]
        modes, negative = self._modes(space)
        if self.training and torch.is_grad_enabled() and not getattr(self, "_warned_untrained", False):
            self._warn_untrained(space)
        dtype = x.dtype
        # complex arithmetic has no half-precision kernels: under mixed precision the spectral
        # part runs in float32 (or float64 when the input is float64)
        with full_precision(x.device):
            x = x if x.dtype == torch.float64 else x.float()
            if self.ndim <= 2 and all(4 * m <= n for m, n in zip(modes, space)):  # (then negative == modes)
                out = self._forward_dft(x, space, modes)
            else:
                out = self._forward_fft(x, space, modes, negative)
        return out.to(dtype)

    def _forward_dft(self, x, space, modes):
        my = modes[-1]
        forward_y, inverse_y = _real_dft(space[-1], my, x.device, x.dtype)
        xy = x @ forward_y
        block = torch.complex(xy[..., :my], xy[..., my:])
        weight = self._weight(modes, modes[:-1]).to(block.dtype)
        if self.ndim == 1:
            out = torch.einsum("bix,iox->box", block, weight)
        else:
            forward_x, inverse_x = _complex_dft(space[0], modes[0], x.device, x.dtype)
            out = torch.einsum("bixy,ioxy->boxy", torch.matmul(forward_x, block), weight)
            out = torch.matmul(inverse_x, out)
        return torch.cat([out.real, out.imag], dim=-1) @ inverse_y

    def _forward_fft(self, x, space, modes, negative):
        dims = tuple(range(-self.ndim, 0))
        x_ft = torch.fft.rfftn(x, dim=dims)  # x is float32 or float64 (see forward)
        block = x_ft[..., : modes[-1]]
        for axis, (p, q) in enumerate(zip(modes[:-1], negative)):
            dim = 2 + axis
            block = torch.cat([block.narrow(dim, 0, p), block.narrow(dim, block.shape[dim] - q, q)], dim=dim)
        letters = "xyz"[: self.ndim]
        weight = self._weight(modes, negative).to(block.dtype)
        out_block = torch.einsum(f"bi{letters},io{letters}->bo{letters}", block, weight)
        out_ft = torch.zeros(x.shape[0], out_block.shape[1], *x_ft.shape[2:], dtype=x_ft.dtype, device=x.device)
        if self.ndim == 1:
            out_ft[..., : modes[0]] = out_block
        else:
            self._scatter(out_ft, out_block, modes, negative)
        return torch.fft.irfftn(out_ft, s=space, dim=dims)

    def _scatter(self, out_ft, out_block, modes, negative):
        """Write the corner blocks (positive / negative frequencies per non-last axis) into out_ft."""
        corners = [[(slice(0, p), slice(0, p)), (slice(out_ft.shape[2 + axis] - q, None), slice(p, p + q))]
                   for axis, (p, q) in enumerate(zip(modes[:-1], negative))]
        last = slice(0, modes[-1])
        for choice in range(2 ** (self.ndim - 1)):
            dst, src = [slice(None), slice(None)], [slice(None), slice(None)]
            for axis, options in enumerate(corners):
                d, s = options[(choice >> axis) & 1]
                dst.append(d)
                src.append(s)
            out_ft[tuple(dst + [last])] = out_block[tuple(src + [last])]
