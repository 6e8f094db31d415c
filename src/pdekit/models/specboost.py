"""SpecBoost (Qin et al. 2024): FNOs trained one after the other, each on the residual of those before."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.fno import FNO
from pdekit.models.registry import register_model


@register_model("specboost")
class SpecBoost(nn.Module):
    """SpecBoost (Qin, Lyu, Peng, Geng, Wang, Tang, Leroyer, Gao, Liu, Wang, "Toward a Better
    Understanding of Fourier Neural Operators from a Spectral Perspective", 2024): an FNO learns the
    dominant (low) frequencies well and the rest poorly, so a second FNO is trained on the first's
    residual, with the first frozen; the prediction is the sum. The paper reports up to 71% lower
    error than one FNO.

    Training: a model with ``training_stages`` S is trained by the Trainer in S equal shares of the
    epochs, each with its own cosine schedule, and told the stage before each epoch
    (``set_stage``); stage s trains FNO s with FNOs 0..s-1 frozen (evaluated without gradients;
    their weights get no updates, not even weight decay). Stage s >= 1 reads the input and the prediction so far, and its
    last layer starts at zero, so its stage starts from the previous stage's error. In a training
    loop of one's own (``set_stage`` never called) every stage trains at once. Outside training
    every stage is used; ``stage_outputs`` gives the prediction after each stage (the
    per-band diagnostic of benchmarks/zoo.py: which frequencies each stage corrects).

    Parameters
    ----------
    in_channels, out_channels, ndim, grid : from the data, as for the FNO.
    stages : FNOs in sequence (2 in the paper's experiments).
    modes : Fourier modes of the first FNO (the FNO's ``modes``).
    residual_modes : modes of the later FNOs (0: the same as ``modes``); the paper gives the residual
        models larger kernels, since the residual lives at higher frequencies.
    hidden_channels, n_layers, lifting_channels, projection_channels, use_grid, activation_fn, padding :
        of every FNO (see ``pdekit.models.FNO``).
    """

    summary = "SpecBoost: FNOs trained in sequence on the previous ones' residual"
    zero_allowed = ("lifting_channels", "projection_channels")  # as the FNO's
    resolution_invariant = True

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int | None = None, grid: str = "nodes",
                 stages: int = 2, modes: list = 16, residual_modes: list = 0, hidden_channels: int = 64,
                 n_layers: int = 4, lifting_channels: int = 128, projection_channels: int = 128,
                 use_grid: bool = True, activation_fn: str = "gelu", padding: float | list = 0.0):
        super().__init__()
        if stages < 1:
            raise ConfigError(f"specboost: stages must be 1 or more, got {stages}")
        later = residual_modes if residual_modes else modes

        def fno(cin, m):
            return FNO(cin, out_channels, ndim, grid, modes=m, hidden_channels=hidden_channels, n_layers=n_layers,
                       lifting_channels=lifting_channels, projection_channels=projection_channels,
                       use_grid=use_grid, activation_fn=activation_fn, padding=padding)

        self.stages = nn.ModuleList([fno(in_channels, modes)] +
                                    [fno(in_channels + out_channels, later) for _ in range(stages - 1)])
        for stage in self.stages[1:]:
            last = stage.project[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.ndim = self.stages[0].ndim
        self.stage = None  # set by the Trainer; None (a loop of one's own): every stage trains at once
        self.training_stages = stages

    def set_stage(self, stage: int) -> None:
        """Called by the Trainer before each epoch: train stage ``stage`` (0-based), the earlier ones
        frozen, the later ones unused."""
        self.stage = stage

    def stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The prediction after each active stage (the last is ``forward``'s)."""
        outputs = []
        pred = None
        active = len(self.stages) if self.stage is None else self.stage + 1
        for i, stage in enumerate(self.stages[:active]):
            frozen = self.training and i < active - 1 and self.stage is not None  # fixed while a later one trains
            with torch.no_grad() if frozen else nullcontext():
                step = stage(x) if i == 0 else stage(torch.cat([x, pred], dim=1))
            pred = step if pred is None else pred + step
            outputs.append(pred)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage_outputs(x)[-1]
