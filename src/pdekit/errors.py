"""User-facing errors: the CLI prints their message and exits with code 2, no traceback."""

import contextlib
import contextvars


class PdekitError(Exception):
    """An error caused by the user's input; the message says what to change."""


class ConfigError(PdekitError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


class UnstableError(PdekitError):
    """A time step would make a solver unstable."""


class DataFileError(PdekitError):
    """A data file is missing, corrupt, truncated or made with another configuration."""


_RECIPE_KEYS = contextvars.ContextVar("recipe_keys", default=False)


def how_to_set(key: str, value: str = "<value>") -> str:
    """How the user sets problem parameter ``key`` (or ``resolution``) where the error reaches them:
    ``--set dt=0.001`` for ``pdekit generate``, the override ``data.params.dt=0.001`` for a recipe."""
    if _RECIPE_KEYS.get():
        return f"data.{'' if key == 'resolution' else 'params.'}{key}={value}"
    return f"--resolution {value}" if key == "resolution" else f"--set {key}={value}"


@contextlib.contextmanager
def recipe_keys():
    """Within: errors name problem parameters as recipe keys (data.params.<key>, data.resolution)."""
    token = _RECIPE_KEYS.set(True)
    try:
        yield
    finally:
        _RECIPE_KEYS.reset(token)
