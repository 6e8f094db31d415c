"""Multigrid neural operator (He, Liu and Xu, ICLR 2024), 1D and 2D: every layer's linear operator
is one multi-channel multigrid V-cycle with learned convolutions."""

from __future__ import annotations

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model
from pdekit.nn import activation, conv_nd


def _per_level(name: str, value, levels: int, least: int) -> list[int]:
    """An int (the same on every level) or one int per level, each at least ``least``."""
    counts = [value] * levels if isinstance(value, int) else list(value)
    if len(counts) != levels or any(isinstance(c, bool) or not isinstance(c, int) or c < least for c in counts):
        raise ConfigError(f"MgNO: {name} must be an int >= {least} or a list of {levels} such ints (one per level, "
                          f"finest first), got {value!r}")
    return counts


def _fold(y: torch.Tensor, axis: int, n: int, periodic: bool) -> torch.Tensor:
    """The transposed stride-2 convolution computed without padding gives the fine points
    -1 .. 2m - 1 (m coarse points) along ``axis``: keep 0 .. n - 1; on a periodic grid the ones
    outside wrap around and are added in (zero padding: they lie outside the domain, dropped)."""
    inner = y.narrow(axis, 1, n)
    if not periodic:
        return inner
    extra = y.size(axis) - 1 - n  # points past n - 1: none for an even n = 2m, one (point n) for an odd n = 2m - 1
    parts = list(inner.split(1, dim=axis))  # rebuilt out of place, for autograd
    parts[-1] = parts[-1] + y.narrow(axis, 0, 1)  # fine point -1 is n - 1
    for k in range(extra):  # fine points n, n + 1, ... are 0, 1, ...
        parts[k] = parts[k] + y.narrow(axis, 1 + n + k, 1)
    return torch.cat(parts, dim=axis)


class VCycle(nn.Module):
    """One multigrid V-cycle for A u = f with learned multi-channel operators: on level j, from
    u = 0, ``pre[j]`` smoothing steps u <- u + S (f_j - A_j u); then the residual is restricted by
    a stride-2 convolution (n -> ceil(n / 2) points, coarse point i on fine point 2 i) to be the
    next level's right-hand side, the coarse solution is prolongated by a transposed stride-2
    convolution and added, and ``post[j]`` smoothing steps follow. The coarsest level is smoothed
    only. All kernels are 3 points per axis without bias; the padding (zeros or circular) is the
    boundary condition. Maps f (batch, f_channels, *space) to u (batch, u_channels, *space).

    Parameters
    ----------
    ndim : spatial dimensions, 1 or 2.
    f_channels : channels of the right-hand side f (and of the residuals).
    u_channels : channels of the solution u.
    pre : presmoothing steps per level (finest first), each at least 1.
    post : postsmoothing steps per level; the coarsest level's entry is not used.
    periodic : circular padding (periodic grid) instead of zero padding.
    """

    def __init__(self, ndim: int, f_channels: int, u_channels: int, pre: list, post: list, periodic: bool):
        super().__init__()
        levels = len(pre)
        self.ndim, self.periodic, self.pre, self.post = ndim, periodic, list(pre), list(post)
        mode = "circular" if periodic else "zeros"

        def conv(cin, cout, stride=1):
            return conv_nd(ndim, cin, cout, 3, stride=stride, padding=1, padding_mode=mode, bias=False)

        # A_j maps u to f; it is needed on every level that has a residual: all but the coarsest, and
        # the coarsest when it smooths twice or more (its single step from u = 0 is u = S f)
        self.A = nn.ModuleDict({str(j): conv(u_channels, f_channels) for j in range(levels)
                                if j < levels - 1 or pre[j] > 1})
        self.S_pre = nn.ModuleList(nn.ModuleList(conv(f_channels, u_channels) for _ in range(p)) for p in pre)
        self.S_post = nn.ModuleList(nn.ModuleList(conv(f_channels, u_channels) for _ in range(q)) for q in post[:-1])
        self.restrict = nn.ModuleList(conv(f_channels, f_channels, stride=2) for _ in range(levels - 1))
        transposed = (nn.ConvTranspose1d, nn.ConvTranspose2d)[ndim - 1]
        self.prolong = nn.ModuleList(transposed(u_channels, u_channels, 3, stride=2, bias=False)
                                     for _ in range(levels - 1))
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self):
        """He-normal weights (torch's default gives each convolution a third of its input's variance,
        so the coarse corrections, three convolutions deep, would start 27x weaker than the fine
        smoothing): gain 1 for the grid transfers, the prolongation's halved in variance so the
        levels' shares add up to about the finest one's; gain sqrt(2) (for the activation between
        layers) shared by a level's smoothing steps; A at a tenth, so that repeated smoothing starts
        as a sum of filters rather than a power of I - S A (which grows with the steps)."""
        levels = len(self.pre)
        for transfer in [*self.restrict, *self.prolong]:
            nn.init.kaiming_normal_(transfer.weight, nonlinearity="linear")
        for prolong in self.prolong:
            prolong.weight.div_(2**0.5)
        for j in range(levels):
            smoothers = [*self.S_pre[j], *(self.S_post[j] if j < levels - 1 else [])]
            for S in smoothers:
                nn.init.kaiming_normal_(S.weight, nonlinearity="relu")
                S.weight.div_(len(smoothers) ** 0.5)
        for A in self.A.values():
            nn.init.kaiming_normal_(A.weight, nonlinearity="linear")
            A.weight.mul_(0.1)

    def _smooth(self, u, f, j, smoothers):
        for S in smoothers:
            u = S(f) if u is None else u + S(f - self.A[str(j)](u))
        return u

    def _cycle(self, f: torch.Tensor, j: int, last: int) -> torch.Tensor:
        u = self._smooth(None, f, j, self.S_pre[j])
        if j == last:
            return u
        coarse = self._cycle(self.restrict[j](f - self.A[str(j)](u)), j + 1, last)
        fine = self.prolong[j](coarse)  # fine points -1 .. 2m - 1
        for axis, n in enumerate(f.shape[2:], start=2):
            fine = _fold(fine, axis, n, self.periodic)
        return self._smooth(u + fine, f, j, self.S_post[j])

    def forward(self, f: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """``f`` (batch, f_channels, *space); ``levels``: how many of the levels to use (all)."""
        last = len(self.pre) - 1 if levels is None else levels - 1
        return self._cycle(f, 0, last)


@register_model("mgno")
class MgNO(nn.Module):
    """Multigrid neural operator (He, Liu and Xu, "MgNO: Efficient Parameterization of Linear
    Operators via Multigrid", ICLR 2024): ``n_layers`` layers u <- act(W u + b), each W one
    multi-channel multigrid V-cycle for A u = f with the layer's input as f (learned 3-point / 3 x 3
    smoothers S and operators A on every level, stride-2 convolution restriction of the residual,
    transposed-convolution prolongation of the coarse correction; see ``VCycle``), b one bias per
    channel (the paper allows a bias function; a constant keeps the model free of a grid size).
    Weights start He-normal, scaled so that activations keep an order-one size through the layers
    (``VCycle._init_weights``). There is no lifting: the first V-cycle takes the ``in_channels`` input as its
    right-hand side and returns ``hidden_channels``; the last layer's output goes through a 1 x 1
    convolution to ``out_channels`` (the only layer that is not a V-cycle). Maps
    ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)``.

    The padding of every convolution is the boundary condition: zeros on a "nodes" grid (Dirichlet-
    like, the paper's Darcy setup), circular on a "periodic" one, where the model commutes with
    shifts by multiples of 2^(levels - 1) cells on grids whose size 2^(levels - 1) divides (on an odd
    periodic grid the coarse points are not evenly spaced across the wrap and the shift error is of
    order 0.1). Any grid size works (odd ones: a level of n points
    has ceil(n / 2) below it, coarse point i on fine point 2 i, which suits 2^k + 1 nodes); a grid
    too small for ``levels`` uses fewer (a level is coarsened while every side has 4 points or more).
    Kernels are in grid cells: not resolution-invariant.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 or 2.
    grid : where the data's points lie: "nodes" (x_j = j / (n - 1), zero padding) or "periodic"
        (x_j = j / n, circular padding); set from the data by recipes.
    hidden_channels : channels of u in every V-cycle (the paper's width).
    n_layers : number of V-cycle layers.
    levels : grid levels of each V-cycle, the finest included (1: smoothing on the grid only).
    smoothing : presmoothing steps on each level, an int or one per level (finest first), >= 1.
    post_smoothing : postsmoothing steps on each level after the coarse correction, an int or one
        per level, >= 0 (the coarsest level's entry is not used).
    activation_fn : "gelu", "relu", "tanh" or "silu".
    """

    summary = "Multigrid neural operator (MgNO): layers of learned multigrid V-cycles, 1D/2D"
    resolution_invariant = False

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 2, grid: str = "nodes",
                 hidden_channels: int = 32, n_layers: int = 5, levels: int = 4, smoothing: list = 1,
                 post_smoothing: list = 0, activation_fn: str = "gelu"):
        super().__init__()
        if ndim not in (1, 2):
            raise ConfigError(f"MgNO supports 1 or 2 spatial dimensions, got ndim = {ndim}")
        check_grid("MgNO", grid)
        for name, value in (("hidden_channels", hidden_channels), ("n_layers", n_layers), ("levels", levels),
                            ("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"MgNO: {name} must be a positive integer, got {value!r}")
        pre = _per_level("smoothing", smoothing, levels, 1)
        post = _per_level("post_smoothing", post_smoothing, levels, 0)
        self.ndim, self.grid, self.levels = ndim, grid, levels
        periodic = grid == "periodic"
        self.cycles = nn.ModuleList(VCycle(ndim, in_channels if i == 0 else hidden_channels, hidden_channels, pre,
                                           post, periodic) for i in range(n_layers))
        self.biases = nn.Parameter(torch.zeros(n_layers, hidden_channels))
        self.act = activation(activation_fn)
        self.project = conv_nd(ndim, hidden_channels, out_channels, 1)
        if ndim == 2:  # channels-last 3 x 3 convolutions: about 30% faster on CPU (oneDNN)
            self.to(memory_format=torch.channels_last)

    def levels_for(self, space) -> int:
        """The levels used on a grid of these sizes: at most ``levels``, coarsening a level only while
        every side has at least 4 points (so the coarsest keeps 2 or more)."""
        sizes, used = list(space), 1
        while used < self.levels and min(sizes) >= 4:
            sizes, used = [(n + 1) // 2 for n in sizes], used + 1
        return used

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.ndim + 2:
            raise ConfigError(f"MgNO: expected input (batch, channels, *space) with {self.ndim} spatial "
                              f"dimensions, got shape {tuple(x.shape)}")
        used = self.levels_for(x.shape[2:])
        if self.ndim == 2:
            x = x.contiguous(memory_format=torch.channels_last)
        shape = (1, -1) + (1,) * self.ndim
        for cycle, bias in zip(self.cycles, self.biases):
            x = self.act(cycle(x, used) + bias.view(shape))
        return self.project(x).contiguous()
