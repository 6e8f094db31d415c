"""User-facing errors: the CLI prints their message and exits with code 2, no traceback."""


class PdekitError(Exception):
    """An error caused by the user's input; the message says what to change."""


class ConfigError(PdekitError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


class UnstableError(PdekitError):
    """A time step would make a solver unstable."""


class DataFileError(PdekitError):
    """A data file is missing, corrupt, truncated or made with another configuration."""
