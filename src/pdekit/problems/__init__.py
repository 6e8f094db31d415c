"""The PDE problems. Every module in this package registers its problems on import."""

import importlib
import pkgutil

from pdekit.problems.base import PROBLEMS, Problem, get_problem, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["PROBLEMS", "Problem", "get_problem", "register"]
