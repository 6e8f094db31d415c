"""A learned finite-difference stencil: the right-hand side of a method of lines.

u_t = sum_j w_j u_{i+j}: one periodic convolution without bias over ``width`` neighbouring points
(in the spirit of data-driven discretizations, Bar-Sinai et al. 2019, and PDE-Net, Long et al.
2018). Trained inside the rollout wrapper with a derivative target, the wrapper's integrator
(RK4, say) rolls it out, and the weights, read back in physical units by ``report``, are an
equation discovered from data: on advection-diffusion data they approach the central
differences of -beta u_x + nu u_xx (tests/test_stencil.py).
"""

from __future__ import annotations

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import refuse_nodes, register_model


@register_model("stencil")
class Stencil(nn.Module):
    """A linear, translation-invariant right-hand side on a periodic 1D grid: (batch, in_channels,
    x) to (batch, out_channels, x) by a ``width``-point stencil per pair of channels, started at zero.

    Parameters
    ----------
    in_channels, out_channels : channels of the input and the output (set from the data).
    ndim : spatial dimensions; 1 only.
    grid : where the data's points lie (set from the data): "periodic" only, as the stencil wraps
        around the ends.
    width : points of the stencil (odd, centred).
    """

    summary = "learned finite-difference stencil (method of lines), 1D periodic"
    resolution_invariant = False
    periodic_only = True  # (refuse_nodes)

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 1, grid: str = "periodic",
                 width: int = 3):
        super().__init__()
        if ndim != 1:
            raise ConfigError(f"model stencil works on 1D periodic data, got ndim = {ndim}")
        refuse_nodes("stencil", grid)
        if width < 1 or width % 2 == 0:
            raise ConfigError(f"model.width of stencil must be odd and >= 1, got {width}")
        self.conv = nn.Conv1d(in_channels, out_channels, width, padding=width // 2, padding_mode="circular",
                              bias=False)
        nn.init.zeros_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def report(self, wrapper) -> dict:
        """The stencil in physical units, as the rollout wrapper applies it to the states it reads
        (z = (u - mean) / std in, du/dt = rate * out): ``learned_stencil``, the weight from state
        input i (field i mod channels) to output o (a bundled step's field o mod channels) times
        rate_o / std_i, a list per (output, input) pair over the offsets -width // 2 .. width // 2;
        and ``learned_offset``, the constant it adds per output, -sum_i,j w_oij mean_i (zero when
        every stencil sums to zero, as a derivative's does), so that
        u_t = sum_i,j w_oij u_i(x + j h) + offset_o. Conditioning channels, constant per
        trajectory, are left out."""
        states = wrapper.history * wrapper.channels
        w = self.conv.weight.detach().double().cpu()[:, :states]
        rate, std, mean = (b.double().cpu() for b in (wrapper.rate, wrapper.std, wrapper.mean))
        fields_in, fields_out = torch.arange(states) % len(std), torch.arange(w.shape[0]) % len(rate)
        physical = w * (rate[fields_out, None, None] / std[fields_in][None, :, None])
        offset = -(physical.sum(dim=2) * mean[fields_in][None]).sum(dim=1)
        return {"learned_stencil": physical.tolist(), "learned_offset": offset.tolist()}
