"""Neural models: plain torch.nn.Modules, importable directly and buildable by name.

Every module in this package registers its models with ``@register_model``.
"""

import importlib
import pkgutil

from pdekit.models.registry import MODELS, build_model, build_network, describe_models, register_model

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

from pdekit.models.deeponet import DeepONet  # noqa: E402
from pdekit.models.fno import FNO  # noqa: E402
from pdekit.models.pointwise import MLP, SIREN, FourierFeatureMLP  # noqa: E402
from pdekit.models.resnet import ResNet  # noqa: E402
from pdekit.models.unet import UNet  # noqa: E402

__all__ = ["MODELS", "build_model", "build_network", "describe_models", "register_model", "FNO", "UNet", "DeepONet",
           "ResNet", "MLP", "SIREN", "FourierFeatureMLP"]
