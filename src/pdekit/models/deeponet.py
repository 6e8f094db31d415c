"""DeepONet (Lu et al. 2021): a branch net on the input sampled at fixed sensors, a trunk net on
query coordinates, combined by an inner product over ``basis`` functions per output channel.

For grid data the input is resampled (linear interpolation, periodic on a periodic grid) to
``sensors`` points per dimension and the output is queried at the input's own grid points, so any
input resolution works; ``query`` evaluates at arbitrary points in [0, 1]^ndim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model
from pdekit.nn import activation, mlp


@register_model("deeponet")
class DeepONet(nn.Module):
    """DeepONet (Lu et al., "Learning nonlinear operators via DeepONet based on the universal
    approximation theorem of operators", Nature Machine Intelligence 2021): a branch MLP reads the
    input resampled (multilinearly) to ``sensors`` points per dimension, a trunk MLP reads the query
    coordinates in [0, 1]^ndim, and the output is their inner product over ``basis`` functions per
    output channel, plus a bias. ``forward`` evaluates on the input's own grid, ``query`` at any
    points.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 or 2.
    grid : where the data's points lie: "nodes" (x_j = j / (n - 1), sensors from 0 to 1) or
        "periodic" (x_j = j / n, sensors at s / sensors, the input interpolated periodically); set
        from the data by recipes, so a point has the same coordinate at every resolution.
    sensors : points per dimension the branch net reads.
    branch_layers, trunk_layers : hidden widths of the two MLPs.
    basis : basis functions per output channel.
    activation_fn : "gelu", "relu", "tanh" or "silu".
    """

    summary = "DeepONet: branch MLP on sensor values, trunk MLP on query coordinates"
    grid_revision = 2  # checkpoints of earlier runs read periodic grids as nodes (registry.as_trained)
    resolution_invariant = True

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 1, grid: str = "nodes",
                 sensors: int = 128, branch_layers: list = (256, 256), trunk_layers: list = (256, 256),
                 basis: int = 128, activation_fn: str = "gelu"):
        super().__init__()
        if ndim not in (1, 2):
            raise ConfigError(f"DeepONet supports 1 or 2 spatial dimensions, got {ndim}")
        check_grid("DeepONet", grid)
        self.periodic = grid == "periodic"
        if sensors < 2 or basis < 1:
            raise ConfigError(f"model.sensors must be >= 2 and model.basis >= 1, got {sensors}, {basis}")
        if any(int(w) < 1 for w in (*branch_layers, *trunk_layers)):  # (a zero width left only the bias)
            raise ConfigError(f"model.branch_layers and model.trunk_layers of deeponet must be positive widths, got "
                              f"{list(branch_layers)} and {list(trunk_layers)}")
        self.ndim, self.sensors, self.basis, self.out_channels = ndim, sensors, basis, out_channels
        self.branch = mlp([in_channels * sensors**ndim, *branch_layers, basis * out_channels], activation_fn)
        self.trunk = mlp([ndim, *trunk_layers, basis * out_channels], activation_fn)
        self.trunk_act = activation(activation_fn)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        mode = "linear" if self.ndim == 1 else "bilinear"
        if self.periodic:  # x_j = j / n: the first point again at 1, then every sensor s / S but the last (at 1)
            x = F.pad(x, (0, 1) * self.ndim, mode="circular")
            sampled = F.interpolate(x, size=(self.sensors + 1,) * self.ndim, mode=mode, align_corners=True)
            sampled = sampled[(..., *(slice(0, -1),) * self.ndim)]
        else:
            sampled = F.interpolate(x, size=(self.sensors,) * self.ndim, mode=mode, align_corners=True)
        return self.branch(sampled.flatten(1)).view(x.shape[0], self.out_channels, self.basis)

    def query(self, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Output at ``points`` (n_points, ndim) in [0, 1]^ndim: (batch, out_channels, n_points)."""
        if points.ndim != 2 or points.shape[1] != self.ndim:
            raise ConfigError(f"query points must be shaped (n, {self.ndim}), got {tuple(points.shape)}")
        trunk = self.trunk_act(self.trunk(points)).view(-1, self.out_channels, self.basis)
        return torch.einsum("bop,nop->bon", self._branch(x), trunk) + self.bias[:, None]

    @staticmethod
    def as_revision(config: dict, grid: str, revision: int) -> tuple[dict, str]:
        """Before grid revision 2 every grid was read as nodes."""
        return config, "nodes"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        space = x.shape[2:]
        axes = [torch.arange(n, device=x.device, dtype=x.dtype) / n if self.periodic else
                torch.linspace(0, 1, n, device=x.device, dtype=x.dtype) for n in space]
        points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, self.ndim)
        return self.query(x, points).view(x.shape[0], self.out_channels, *space)
