"""Training: the one Trainer (any module, any task), its settings, the supervised operator task,
and ``fit``, the Python entry point."""

from pdekit.train.config import TrainConfig, make_train_config
from pdekit.train.supervised import SupervisedConfig, SupervisedTask, TrainedModel
from pdekit.train.task import TASKS, Task, register_task
from pdekit.train.fit import fit
from pdekit.train.rollout import Autoregressive, RolloutTask
from pdekit.train.trainer import Trainer, TrainResult

__all__ = ["fit", "Trainer", "TrainResult", "TrainConfig", "make_train_config", "Task", "TASKS", "register_task",
           "SupervisedTask", "SupervisedConfig", "TrainedModel", "Autoregressive", "RolloutTask"]
