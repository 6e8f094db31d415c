"""FNO with local kernels (Liu-Schiaffini et al., ICML 2024): a differential and a local integral
branch next to each Fourier layer's global spectral convolution."""

from __future__ import annotations

import math

import scipy.fft
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from pdekit.errors import ConfigError
from pdekit.models.fno import DEFAULT_MODES, FNO
from pdekit.models.registry import register_model
from pdekit.nn import constant_cache
from pdekit.nn.layers import full_precision


def grid_spacing(n: int, grid: str) -> float:
    """Distance between neighbouring points on the unit interval: 1 / n (periodic), 1 / (n - 1) (nodes)."""
    return 1.0 / n if grid == "periodic" else 1.0 / max(n - 1, 1)


@constant_cache
def disk_basis(half_widths: tuple[int, ...], spacing: tuple[float, ...], radius: float, rings: int,
               device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Piecewise-linear basis functions on the disk (a ball in 3D, an interval in 1D) |d| <= radius,
    sampled at the stencil offsets d = (i_1 h_1, ..., i_D h_D), |i_k| <= half_widths[k], times the
    quadrature weight h_1...h_D over the disk's volume (so each branch is an average over the disk,
    O(1) at any radius).

    Rings: hats in rho = |d| / radius centred at 0, 1 / rings, ..., (rings - 1) / rings, each
    falling to zero one centre further (the kernel is continuous, also at the disk's edge, so its
    quadrature converges at second order). The centre hat is
    isotropic; every other ring is taken with the angular factors 1, cos(theta), sin(theta) (in 2D,
    theta the angle of d to the first axis; in 1D the odd factor is sign(d); in 3D d_k / |d|, k = 1..3):
    1 + (D + 1) (rings - 1) functions in D dimensions. Returns (functions, *kernel shape)."""
    axes = [torch.arange(-m, m + 1, dtype=torch.float64) * h for m, h in zip(half_widths, spacing)]
    d = torch.stack(torch.meshgrid(*axes, indexing="ij"))
    rho = d.norm(dim=0) / radius
    hats = [torch.clamp(1 - (rho * rings - k).abs(), min=0) for k in range(rings)]  # zero from rho = 1 on
    if len(axes) == 1:
        odd = [torch.sign(d[0])]
    elif len(axes) == 2:
        theta = torch.atan2(d[1], d[0])
        odd = [torch.cos(theta), torch.sin(theta)]
    else:  # the unit vector's components (0 at the centre, where every hat but the first is 0)
        odd = list(d / d.norm(dim=0).clamp_min(1e-300))
    functions = [hats[0]] + [hat * f for hat in hats[1:] for f in (torch.ones_like(rho), *odd)]
    volume = (2 * radius, math.pi * radius**2, 4 / 3 * math.pi * radius**3)[len(axes) - 1]
    weight = math.prod(spacing) / volume
    return (torch.stack(functions) * weight).to(device, dtype)


class LocalBranches(nn.Module):
    """The two local kernels of one layer (channels -> channels):

    - differential: a 3-point (3 x 3) stencil whose entries sum to zero, divided by the grid
      spacing h, so that it converges to a learned directional derivative sum_j c_j . grad u of a
      smooth u under refinement (on a node grid the edge value is repeated outside; the next
      layer's stencil still sees the one-sided edge as a jump);
    - local integral (a DISCO convolution): the integral of K(x - y) u(y) over the disk |x - y| <=
      radius, K a learned combination of the piecewise-linear functions of ``disk_basis``, summed
      with the quadrature weight h^d: the same operator at any resolution (zeros outside a node
      grid, wrapped around a periodic one).
    """

    def __init__(self, channels: int, ndim: int, grid: str, differential: bool, integral: bool, radius: float,
                 rings: int, derivative_scale: float = 1.0):
        super().__init__()
        self.ndim, self.grid, self.radius, self.rings = ndim, grid, radius, rings
        self.derivative_scale = derivative_scale
        self.diff = self.integral = None
        if differential:
            bound = 1 / math.sqrt(channels * 3**ndim)
            self.diff = nn.Parameter(torch.empty(channels, channels, *(3,) * ndim).uniform_(-bound, bound))
        if integral:
            functions = 1 + (ndim + 1) * (rings - 1)
            bound = 1 / math.sqrt(channels * functions)
            self.integral = nn.Parameter(torch.empty(channels, channels, functions).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, spacing: tuple[float, ...]) -> torch.Tensor:
        conv = (F.conv1d, F.conv2d, F.conv3d)[self.ndim - 1]
        out = 0
        if self.diff is not None:
            stencil = self.diff - self.diff.mean(dim=tuple(range(2, 2 + self.ndim)), keepdim=True)
            mode = "circular" if self.grid == "periodic" else "replicate"
            out = out + conv(F.pad(x, (1, 1) * self.ndim, mode=mode), stencil.to(x.dtype)) * (self.derivative_scale / max(spacing))
        if self.integral is not None:
            half = tuple(int(self.radius / h + 1e-9) for h in spacing)
            basis = disk_basis(half, spacing, self.radius, self.rings, x.device, x.dtype)
            pad = [p for m in reversed(half) for p in (m, m)]
            x = F.pad(x, pad, mode="circular") if self.grid == "periodic" and any(half) else F.pad(x, pad)
            if max(half) <= 2:  # im2col is faster up to 5 x 5 kernels (measured on CPU)
                out = out + conv(x, torch.einsum("oif,f...->oi...", self.integral.to(x.dtype), basis))
            else:
                out = out + _disco_fft(x, self.integral, basis)
        return out


class _DiscoFFT(torch.autograd.Function):
    """The local integral by FFTs: y[b, o] = sum_i,f weight[o, i, f] (x[b, i] correlated with
    basis[f]), a cross-correlation without padding (F.conv's), for kernels too wide for im2col (a
    radius of 0.05 at 421 points is 43 x 43). Circular correlations of length s >= n (a fast FFT
    length) have no wrap-around in the entries kept. The backward is written out so that every
    product is one contiguous batched matmul over frequencies (autograd through einsum on complex
    strided tensors copied each frequency's matrix: 6x slower) and the weight's gradient is taken
    against the basis by Parseval (no inverse FFT of an out x in kernel gradient)."""

    @staticmethod
    def forward(ctx, x, weight, basis):
        dims = tuple(range(-(basis.dim() - 1), 0))
        size, ksize = x.shape[2:], basis.shape[1:]
        s = tuple(scipy.fft.next_fast_len(n, real=True) for n in size)
        x_ft = torch.fft.rfftn(x, s=s, dim=dims)
        freq = x_ft.shape[2:]
        xf = x_ft.flatten(2).permute(2, 0, 1).contiguous()  # (F, b, i)
        basis_conj = torch.fft.rfftn(basis, s=s, dim=dims).flatten(1).conj().T.contiguous()  # (F, f)
        out_ch, in_ch, nf = weight.shape
        k_conj = (basis_conj @ weight.permute(2, 1, 0).reshape(nf, -1).to(basis_conj.dtype)).view(-1, in_ch, out_ch)
        y_ft = torch.bmm(xf, k_conj).permute(1, 2, 0).reshape(x.shape[0], out_ch, *freq)
        ctx.save_for_backward(xf, k_conj, basis_conj)
        ctx.shapes = (dims, size, s, freq)
        return torch.fft.irfftn(y_ft, s=s, dim=dims)[(Ellipsis, *(slice(0, n - k + 1) for n, k in zip(size, ksize)))]

    @staticmethod
    @once_differentiable  # the saved transforms carry no graph: refuse a double backward, never get it wrong
    def backward(ctx, grad):
        xf, k_conj, basis_conj = ctx.saved_tensors
        dims, size, s, freq = ctx.shapes
        g_ft = torch.fft.rfftn(grad, s=s, dim=dims).flatten(2).permute(2, 0, 1).contiguous()  # (F, b, o)
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            gx_ft = torch.bmm(g_ft, k_conj.conj().transpose(1, 2).contiguous()).permute(1, 2, 0)
            grad_x = torch.fft.irfftn(gx_ft.reshape(grad.shape[0], -1, *freq), s=s, dim=dims)
            grad_x = grad_x[(Ellipsis, *(slice(0, n) for n in size))]
        if ctx.needs_input_grad[1]:
            # d/dkernel[m] = sum_b,j x[j + m] grad[j] = IDFT(X conj(G))[m]; against basis_f by Parseval:
            # (1 / N) Re sum over the full spectrum, i.e. the half spectrum with interior columns twice
            gk_ft = torch.bmm(g_ft.conj().transpose(1, 2).contiguous(), xf)  # (F, o, i)
            twice = torch.full(freq, 2.0, dtype=xf.real.dtype, device=xf.device)
            twice[..., 0] = 1
            if s[-1] % 2 == 0:
                twice[..., -1] = 1
            projected = gk_ft.flatten(1).T @ (basis_conj * twice.flatten()[:, None] / math.prod(s))
            grad_weight = projected.real.view(gk_ft.shape[1], gk_ft.shape[2], -1)
        return grad_x, grad_weight, None


def _disco_fft(x: torch.Tensor, weight: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``_DiscoFFT`` in float32 (or float64) whatever the autocast: FFT products lose too much in half."""
    precise = x.dtype if x.dtype == torch.float64 else torch.float32
    with full_precision(x.device):
        out = _DiscoFFT.apply(x.to(precise), weight.to(precise), basis.to(precise))
    return out.to(x.dtype)


@register_model("local_fno")
class LocalFNO(FNO):
    """FNO with local kernels (Liu-Schiaffini, Berner, Bonev, Kurth, Azizzadenesheli, Anandkumar,
    "Neural Operators with Localized Integral and Differential Kernels", ICML 2024): each Fourier
    layer's linear part is spectral convolution + 1x1 skip + a differential kernel + a local
    integral kernel (``LocalBranches``), all in parallel, so that the layer sees local structure the
    truncated spectrum misses. Both local kernels are defined in physical units (the stencil over h,
    the integral over a disk of fixed radius). One stencil converges to a derivative of a smooth
    input, but stacked ones differentiate the features of the layers before (the coordinate
    channel's wrap-around on a periodic grid, edges, kinks) and grow like 1 / h: with ``differential``
    the model is not resolution-invariant (``pdekit eval`` refuses data at another resolution);
    with the integral kernel alone it is. The paper reports 34-72% lower
    relative L2 than the FNO. Grids are taken to have equal spacing along every axis (the unit
    square at any n); on others the largest spacing scales the stencil.

    Parameters
    ----------
    in_channels, out_channels, ndim, grid, modes, n_modes, hidden_channels, n_layers, lifting_channels, projection_channels, use_grid, factorization, rank, activation_fn, padding : as for the FNO (``pdekit.models.FNO``).
    differential : add the differential kernel to every layer.
    local_integral : add the local integral (DISCO) kernel to every layer.
    local_radius : the integral kernel's support radius in the unit of the domain (the unit
        interval or square); below one grid spacing the kernel reduces to a pointwise map.
    rings : radial hat functions of the integral kernel (2 or more); with the angular factors
        1 + 3 (rings - 1) basis functions in 2D.
    old_names : ``width`` and ``depth``, the earlier names of hidden_channels and n_layers.
    """

    summary = "FNO with differential and local integral (DISCO) kernels beside each spectral layer"
    resolution_invariant = True  # (per model: False with the differential kernel, see __init__)

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int | None = None, grid: str = "nodes",
                 modes: list = DEFAULT_MODES, n_modes: list | None = None, hidden_channels: int = 64, n_layers: int = 4,
                 lifting_channels: int = 128, projection_channels: int = 128, use_grid: bool = True,
                 factorization: str = "none", rank: float = 1.0, activation_fn: str = "gelu", padding: float | list = 0.0,
                 differential: bool = True, local_integral: bool = True, local_radius: float = 0.05, rings: int = 3,
                 **old_names):
        super().__init__(in_channels, out_channels, ndim, grid, modes, n_modes, hidden_channels, n_layers,
                         lifting_channels, projection_channels, use_grid, factorization, rank, activation_fn,
                         padding, **old_names)
        if not differential and not local_integral:
            raise ConfigError("local_fno: enable differential or local_integral (with neither it is the fno)")
        if not 0 < local_radius < 0.5:
            raise ConfigError(f"local_fno: local_radius must lie in (0, 0.5), got {local_radius}")
        if rings < 2:
            raise ConfigError(f"local_fno: rings must be 2 or more, got {rings}")
        width = self.skips[0].in_channels
        # the stencil's derivative in units of the highest kept mode's (2 pi m): O(1) gains for what the
        # spectral part resolves, and Adam steps that do not grow with the resolution (1 / h alone
        # made each step move the derivative's weight by lr / h: training failed at 256 points)
        scale = 1 / (2 * math.pi * max(self.spectral[0].modes))
        self.local = nn.ModuleList(LocalBranches(width, self.ndim, grid, differential, local_integral, local_radius,
                                                 rings, scale) for _ in range(len(self.spectral)))
        # stacked stencils differentiate what the layers before made: the coordinate channel's periodic
        # wrap-around, edges, non-smooth features; their outputs grow like 1 / h under refinement
        # (relative change 5e-3 from 32 to 64 points, 3.0 from 512 to 1024), so only the integral kernel
        # keeps the model an operator
        self.resolution_invariant = not differential

    @staticmethod
    def invariant_for(config: dict) -> bool:
        """``resolution_invariant`` of the model ``config`` builds: without the differential kernel."""
        return not config.get("differential", True)

    def kernel(self, layer: int, x: torch.Tensor, space: tuple) -> torch.Tensor:
        spacing = tuple(grid_spacing(n, self.grid) for n in space)
        return super().kernel(layer, x, space) + self.local[layer](x, spacing)
