"""Training: losses, the trainer with atomic checkpoints and resume, and ``fit`` for any module."""

from pdekit.train.trainer import TrainedModel, fit

__all__ = ["fit", "TrainedModel"]
