"""The PDE problems. Every module in this package registers its problems on import: grid problems
with a solver (``Problem``) and physics-informed benchmarks (``PinnProblem``), in the module of the
PDE they belong to."""

import difflib
import importlib
import pkgutil

from pdekit.errors import ConfigError
from pdekit.problems.base import PROBLEMS, PinnProblem, Problem, log_scaled, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def get_problem(name: str, kind: str | None = "grid"):
    """The registered problem ``name``; ``kind``: "grid" (a Problem with a solver, the default),
    "pinn" (a PinnProblem) or None (either).

    Parameters
    ----------
    name : str
        The problem's registered name (``pdekit list problems``).
    kind : str or None
        "grid", "pinn" or None.

    Returns
    -------
    type
        The problem class (build an instance with its ``from_params``).

    Raises
    ------
    ConfigError
        For an unknown name (with a suggestion) or a problem of the other kind.
    """
    known = sorted(n for n, c in PROBLEMS.items() if kind in (None, c.kind))
    if not isinstance(name, str) or name not in PROBLEMS:
        hint = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
        also = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConfigError(f"unknown problem '{name}'{also}; known problems: {', '.join(known)}")
    cls = PROBLEMS[name]
    if kind not in (None, cls.kind):
        what = {"pinn": "a physics-informed benchmark (use it in a recipe of kind pinn)",
                "grid": "a problem with a grid solver (use it in an operator recipe's data.problem)"}[cls.kind]
        raise ConfigError(f"'{name}' is {what}; problems of the kind asked for: {', '.join(known)}")
    return cls


__all__ = ["PROBLEMS", "PinnProblem", "Problem", "get_problem", "log_scaled", "register"]
