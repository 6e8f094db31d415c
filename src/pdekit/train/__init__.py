"""Training: losses, the trainer with atomic checkpoints and resume."""
