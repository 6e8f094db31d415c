"""The ``eval`` section of an operator recipe: resolution transfer, timing and plots."""

from __future__ import annotations

from dataclasses import dataclass, field

from pdekit.config import param, require


@dataclass(frozen=True)
class EvalSection:
    resolutions: list = field(default_factory=list, metadata={"help": "finer stored grids for resolution transfer"})
    timing_samples: int = param(8, "samples timed for the solver and the model")
    timing_rounds: int = param(5, "alternating timing rounds of the model and each solver setting (medians reported)")
    plot_samples: int = param(3, "test samples shown in the prediction plot")
    solver_ladder: bool = param(True, "time cheaper solver settings for the speed-accuracy plot")
    held_out: dict = field(default_factory=dict, metadata={"help": "problem parameters of a second test set the "
                                                                   "training never saw, e.g. {re: 1000, re_max: 2000} "
                                                                   "(the test samples' inputs, other parameters)"})

    def validate(self):
        """Check that timing_samples, timing_rounds and plot_samples are >= 1 and resolutions are
        positive integers."""
        require(self.timing_samples >= 1, f"eval.timing_samples must be >= 1, got {self.timing_samples}")
        require(self.plot_samples >= 1, f"eval.plot_samples must be >= 1 (it crashed the report after training), got "
                f"{self.plot_samples}")
        require(self.timing_rounds >= 1, f"eval.timing_rounds must be >= 1, got {self.timing_rounds}")
        require(all(isinstance(r, int) and r > 0 for r in self.resolutions),
                f"eval.resolutions must be a list of positive integers, got {self.resolutions}")
        require(isinstance(self.held_out, dict), f"eval.held_out must be a mapping of problem parameters, got "
                f"{self.held_out!r}")
