"""The message-passing PDE solver of Brandstetter, Worrall and Welling ("Message passing neural PDE
solvers", ICLR 2022) on the points of a grid or on scattered points.

Every point is a node; edges join the points within ``neighbors`` grid spacings of each other
(periodic distance on a periodic grid), or each scattered point to its ``neighbors`` nearest.
The encoder lifts each node's input channels (a rollout's history and the PDE's parameters as
constant channels) to ``hidden`` features; each of ``layers`` processor steps computes a message
per edge from both ends' features, the difference of their inputs and their relative position,
averages the messages at each node and updates its features with the node's own inputs (the
paper's parameters in every update), with a residual connection and layer norm; the decoder maps
the features to the output channels (with temporal bundling, K future steps at once).

The message passing is plain torch: a gather of the edges' ends and ``index_add_`` onto the
nodes (benchmarks/message_passing.py times it against PyTorch Geometric's layer).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model
from pdekit.nn import mlp


def _block(a: int, hidden: int, b: int) -> nn.Sequential:
    """Two linear layers with swish after each (the paper's encoder, message and update nets)."""
    return nn.Sequential(*mlp([a, hidden, b], "silu"), nn.SiLU())


class _Layer(nn.Module):
    """One processor step: messages phi(h_i, h_j, u_i - u_j, x_i - x_j), their mean at node i, and
    h_i + psi(h_i, mean, u_i) normalized."""

    def __init__(self, hidden: int, inputs: int, ndim: int):
        super().__init__()
        self.message = _block(2 * hidden + inputs + ndim, hidden, hidden)
        self.update = _block(2 * hidden + inputs, hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h, u, src, dst, rel, degree):
        pick = torch.Tensor.index_select  # faster than h[:, dst] here (benchmarks/message_passing.py)
        m = self.message(torch.cat([pick(h, 1, dst), pick(h, 1, src), pick(u, 1, dst) - pick(u, 1, src),
                                    rel.expand(len(h), -1, -1)], dim=-1))
        total = torch.zeros_like(h).index_add_(1, dst, m)
        return self.norm(h + self.update(torch.cat([h, total / degree, u], dim=-1)))


@register_model("mppde")
class MPPDE(nn.Module):
    """Message-passing PDE solver (encoder, processor, decoder over a graph of the points).
    Maps ``(batch, in_channels, *space)`` to ``(batch, out_channels, *space)`` on a 1D or 2D grid,
    or ``(batch, in_channels, n)`` on n scattered points once ``set_points`` has given them.

    Parameters
    ----------
    in_channels, out_channels : channels of the input and the output (set from the data; with
        temporal bundling the output holds K steps).
    ndim : spatial dimensions of a grid, 1 or 2.
    grid : where a grid's points lie: "periodic" (x_j = j / n, distances wrap) or "nodes".
    hidden : features per node.
    layers : processor steps.
    neighbors : on a grid, edges join points at most this many grid spacings apart (the first
        axis's spacing); on scattered points, each point's number of nearest neighbours.
    """

    summary = "message-passing PDE solver (MP-PDE) on grid or scattered points, 1D/2D"
    resolution_invariant = False

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 1, grid: str = "nodes",
                 hidden: int = 128, layers: int = 6, neighbors: int = 3):
        super().__init__()
        check_grid("MPPDE", grid)
        if ndim not in (1, 2):
            raise ConfigError(f"model mppde works on 1D or 2D data (or scattered points), got ndim = {ndim}")
        if hidden < 1 or layers < 1 or neighbors < 1:
            raise ConfigError(f"model mppde: hidden, layers and neighbors must be >= 1, got {hidden}, {layers}, "
                              f"{neighbors}")
        self.ndim, self.periodic, self.neighbors = ndim, grid == "periodic", neighbors
        self.encoder = _block(in_channels, hidden, hidden)
        self.processor = nn.ModuleList(_Layer(hidden, in_channels, ndim) for _ in range(layers))
        self.decoder = mlp([hidden, hidden, out_channels], "silu")
        self.points: torch.Tensor | None = None  # scattered points (n, ndim), see set_points
        self._graphs: dict = {}

    def set_points(self, points, periodic: bool = False) -> "MPPDE":
        """Work on scattered points from now on: ``points`` (n, ndim) in [0, 1]^ndim (``periodic``:
        distances wrap around the unit cell); inputs are then (batch, channels, n)."""
        points = torch.as_tensor(points, dtype=torch.float64)
        if points.ndim != 2 or points.shape[1] != self.ndim or len(points) <= self.neighbors:
            raise ConfigError(f"mppde.set_points: points must be (n, {self.ndim}) with n > neighbors = "
                              f"{self.neighbors}, got {tuple(points.shape)}")
        self.points, self.periodic, self._graphs = points, periodic, {}
        return self

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.points is not None:  # the weights mean nothing on other points: saved with them
            destination[prefix + "points"] = self.points.clone()
            destination[prefix + "points_periodic"] = torch.tensor(self.periodic)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        if prefix + "points" in state_dict:  # (a grid model's weights leave any points set here as they are)
            self.set_points(state_dict[prefix + "points"], bool(state_dict[prefix + "points_periodic"]))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        unexpected_keys[:] = [k for k in unexpected_keys if k not in (prefix + "points", prefix + "points_periodic")]

    def _offsets(self, p: torch.Tensor) -> torch.Tensor:
        """x_i - x_j for every pair (n, n, ndim), the shortest way round on a periodic domain."""
        d = p[:, None] - p[None]
        return d - torch.round(d) if self.periodic else d

    def graph(self, shape: tuple[int, ...], device) -> tuple:
        """(src, dst, relative positions (1, E, ndim) in units of the neighbour distance, degree
        (1, n, 1)) of the grid ``shape`` or of the scattered points; built once per shape. The
        neighbour distance: ``neighbors`` spacings on a grid, the largest k-nearest distance on points."""
        key = (shape, str(device))
        if key not in self._graphs:
            with torch.inference_mode(False):  # reused by training after an evaluation under inference mode
                self._graphs[key] = self._build_graph(shape, device)
        return self._graphs[key]

    def _build_graph(self, shape: tuple[int, ...], device) -> tuple:
        if self.points is not None:
            if shape != (len(self.points),):
                raise ConfigError(f"mppde: the input has {shape} points; set_points gave {len(self.points)}")
            offsets = self._offsets(self.points)
            distance = offsets.norm(dim=-1).fill_diagonal_(math.inf)
            near = distance.topk(self.neighbors, dim=1, largest=False)
            dst = torch.arange(len(self.points)).repeat_interleave(self.neighbors)
            src, scale = near.indices.flatten(), float(near.values.max())
            rel, nodes = offsets[dst, src], len(self.points)  # O(n^2) memory: scattered sets are small
        else:
            src, dst, rel, scale = self._grid_edges(shape)
            nodes = math.prod(shape)
        rel = (rel / scale).float()[None]
        degree = torch.zeros(nodes).index_add_(0, dst, torch.ones(len(dst)))[None, :, None]
        return tuple(t.to(device) for t in (src, dst, rel, degree))

    def _grid_edges(self, shape: tuple[int, ...]) -> tuple:
        """(src, dst, x_dst - x_src, radius) of a grid: every integer shift of the index within the
        radius (``neighbors`` spacings of the first axis), wrapped on a periodic grid and dropped
        past a non-periodic one's edge; memory linear in the points."""
        if len(shape) != self.ndim:
            raise ConfigError(f"mppde was built for {self.ndim}D data, got a grid of shape {shape}")
        spacing = [1 / (n if self.periodic else n - 1) for n in shape]
        radius = self.neighbors * spacing[0]
        index = torch.arange(math.prod(shape)).view(shape)
        ranges = [range(-int(radius / h + 1e-9), int(radius / h + 1e-9) + 1) for h in spacing]
        src, dst, rel = [], [], []
        for shift in itertools.product(*ranges):
            step = torch.tensor([k * h for k, h in zip(shift, spacing)], dtype=torch.float64)
            if not any(shift) or float(step.norm()) > radius * (1 + 1e-9):
                continue
            if self.periodic and any(2 * k <= -n or 2 * k > n for k, n in zip(shift, shape)):
                continue  # the same neighbour the other way round the period: one edge each (k in (-n/2, n/2])
            source = index
            keep = torch.ones(shape, dtype=torch.bool)
            for axis, k in enumerate(shift):
                source = torch.roll(source, -k, dims=axis)  # source[i] = index[i + k]
                if not self.periodic:  # i + k must stay on the grid
                    position = torch.arange(shape[axis]).view([-1 if a == axis else 1 for a in range(len(shape))])
                    keep &= (position + k >= 0) & (position + k < shape[axis])
            src.append(source[keep])
            dst.append(index[keep])
            rel.append((-step).expand(int(keep.sum()), -1))  # x_dst - x_src
        return torch.cat(src), torch.cat(dst), torch.cat(rel), radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape[2:])
        src, dst, rel, degree = self.graph(shape, x.device)
        u = x.flatten(2).transpose(1, 2)  # (batch, nodes, channels)
        h = self.encoder(u)
        rel, degree = rel.to(h.dtype), degree.to(h.dtype)
        for layer in self.processor:
            h = layer(h, u, src, dst, rel, degree)
        return self.decoder(h).transpose(1, 2).reshape(len(x), -1, *shape)
