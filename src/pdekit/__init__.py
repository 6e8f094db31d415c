"""pdekit: verified PDE solvers, reproducible datasets and neural surrogates."""

__version__ = "0.1.0"

from pdekit.errors import PdekitError, ConfigError  # noqa: E402

__all__ = ["__version__", "PdekitError", "ConfigError"]
