"""Spectral-Refiner (Cao, Brarda, Li, Xi 2024): an FNO trained end to end, then frozen except for
its last spectral layer, which is fine-tuned with more Fourier modes than it was trained with."""

from __future__ import annotations

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.fno import DEFAULT_MODES, FNO
from pdekit.models.registry import register_model
from pdekit.nn.spectral import SpectralConv


@register_model("spectral_refiner")
class SpectralRefiner(FNO):
    """The FNO with the Spectral-Refiner's fine-tuning (Cao, Brarda, Li, Xi, "Spectral-Refiner:
    Accurate Fine-Tuning of Spatiotemporal Fourier Neural Operator for Turbulent Flows", arXiv
    2405.17211, 2024):
    train the whole network for a few epochs, freeze it, and fine-tune only the last spectral
    convolution without its mode truncation, so that the output gains the frequencies the
    truncated layers cannot produce. The paper fine-tunes with a negative Sobolev (H^-1) loss of
    the PDE residual; here the stage uses the task's loss (``train.loss: sobolev`` with
    ``sobolev_s: -1``, or PINO's ``physics_weight``, give its variants).

    The last layer's expanded spectral weights are the trained ``modes`` plus a second spectral
    convolution over ``refine_modes`` (``refinement``), zero at the start of fine-tuning: their sum
    is the untruncated layer, initialized from the trained one. The Trainer trains the model in two
    stages (``training_stages``: the shares 1 - refine_share and refine_share of the epochs, each
    with its own cosine): in the first, the FNO alone (the refinement unused); in the second, the
    refinement alone (every other parameter enters detached: no gradient, no update, no weight
    decay). Trained by a loop of one's own (no stages set), every parameter trains at once.

    Parameters
    ----------
    refine_modes : modes per dimension of the fine-tuned last layer, in the paper's convention (as
        ``modes``) also where the FNO is given ``n_modes`` (0: twice the trained modes; modes the
        grid does not hold are dropped, as in every spectral layer).
    refine_share : the share of the epochs spent fine-tuning, in (0, 1).
    in_channels, out_channels, ndim, grid, modes, n_modes, hidden_channels, n_layers, lifting_channels, projection_channels, use_grid, factorization, rank, activation_fn, padding, old_names : as for the FNO (``pdekit.models.FNO``).
    """

    summary = "Spectral-Refiner: an FNO whose last spectral layer is fine-tuned without mode truncation"

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int | None = None, grid: str = "nodes",
                 modes: list = DEFAULT_MODES, n_modes: list | None = None, hidden_channels: int = 64, n_layers: int = 4,
                 lifting_channels: int = 128, projection_channels: int = 128, use_grid: bool = True,
                 factorization: str = "none", rank: float = 1.0, activation_fn: str = "gelu", padding: float | list = 0.0,
                 refine_modes: list = 0, refine_share: float = 0.2, **old_names):
        super().__init__(in_channels, out_channels, ndim, grid, modes, n_modes, hidden_channels, n_layers,
                         lifting_channels, projection_channels, use_grid, factorization, rank, activation_fn,
                         padding, **old_names)
        if not 0 < refine_share < 1:
            raise ConfigError(f"spectral_refiner: refine_share must lie in (0, 1), got {refine_share}")
        trained = self.spectral[-1].modes
        wanted = refine_modes if refine_modes else [2 * m for m in trained]
        wanted = [wanted] * self.ndim if isinstance(wanted, int) else list(wanted)
        if len(wanted) != self.ndim or any(r < m for r, m in zip(wanted, trained)):
            raise ConfigError(f"spectral_refiner: refine_modes must be one int, or one per dimension, at least the "
                              f"trained modes {list(trained)}; got {refine_modes}")
        width = self.skips[-1].in_channels
        self.refinement = SpectralConv(width, width, tuple(wanted))  # built last: the FNO's initialization stays
        nn.init.zeros_(self.refinement.weight)
        self.training_stages = (1 - refine_share, refine_share)
        self.stage = None  # set by the Trainer; None (a loop of one's own): everything trains at once
        self._frozen_call = False

    def set_stage(self, stage: int) -> None:
        """Called by the Trainer before each epoch: stage 0 trains the FNO, stage 1 the refinement only."""
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.stage == 1 and not self._frozen_call:
            # fine-tuning: every parameter but the refinement's enters detached, so none of them gets
            # a gradient (no update, no weight decay); nothing to undo when the stage ends
            frozen = {name: p.detach() for name, p in self.named_parameters() if not name.startswith("refinement.")}
            self._frozen_call = True
            try:
                return torch.func.functional_call(self, frozen, (x,), strict=False)
            finally:
                self._frozen_call = False
        return super().forward(x)

    def kernel(self, layer: int, x: torch.Tensor, space: tuple) -> torch.Tensor:
        out = super().kernel(layer, x, space)
        if self.stage != 0 and layer == len(self.spectral) - 1:  # (unused while the FNO trains alone)
            out = out + self.refinement(x)
        return out
