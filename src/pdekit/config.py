"""Validated parameter sets: a frozen dataclass per problem, filled from defaults and overrides.

Every parameter is declared once, as a dataclass field with a default and a ``help`` text in its
metadata; ``make_config`` converts strings from the command line, rejects unknown keys (with a
suggestion) and values of the wrong type, and then runs the dataclass's own ``validate``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any, Mapping

from pdekit.errors import ConfigError


def param(default: Any, help: str, choices: tuple | None = None) -> Any:
    """Declare a parameter: its default, a one-line description and optional allowed values."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _convert(key: str, value: Any, kind: Any) -> Any:
    """``value`` as ``kind``; ``key`` names it in errors (with its section: "'lr' of train")."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        kind = args[0]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"parameter {key} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"parameter {key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise ConfigError(f"parameter {key} must be an integer, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"parameter {key} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"parameter {key} must be a number, got {value!r}") from None
        if not math.isfinite(number):  # NaN passes every comparison a validate() makes, and inf most
            raise ConfigError(f"parameter {key} must be a finite number, got {value!r}")
        return number
    if kind is str:
        return str(value)
    if kind in (dict, list) and not isinstance(value, kind):
        raise ConfigError(f"parameter {key} must be a {'mapping' if kind is dict else 'list'}, got {value!r}")
    return value


def make_config(cls: type, overrides: Mapping[str, Any] | None = None, owner: str = "") -> Any:
    """Build and validate an instance of the dataclass ``cls`` from defaults and ``overrides``."""
    overrides = dict(overrides or {})
    types = _field_types(cls)
    where = f" of {owner}" if owner else ""
    values = {}
    for key, value in overrides.items():
        if key not in types:
            hint = difflib.get_close_matches(key, list(types), n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(
                f"unknown parameter '{key}'{where}{also}; known parameters: {', '.join(types)}"
            )
        values[key] = _convert(f"'{key}'{where}", value, types[key])
    for f in dataclasses.fields(cls):
        choices = f.metadata.get("choices")
        value = values.get(f.name, f.default)
        if choices and value not in choices:
            raise ConfigError(
                f"parameter '{f.name}'{where} must be one of {', '.join(map(str, choices))}; got {value!r}"
            )
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for each parameter, for ``pdekit show``."""
    types = _field_types(cls)
    rows = []
    for f in dataclasses.fields(cls):
        kind = types[f.name]
        name = getattr(kind, "__name__", str(kind).replace("typing.", ""))
        help_text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            help_text += f" (one of: {', '.join(map(str, f.metadata['choices']))})"
        rows.append((f.name, name, f.default, help_text))
    return rows


def require(condition: bool, message: str) -> None:
    """Raise ConfigError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


_BOUNDS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def limits(config: Any, prefix: str = "", **bounds: tuple[str, float]) -> None:
    """Check each named field against its bound, ``limits(self, "data.", n_train=(">=", 1))``; the
    first that fails is named with its value (a check of several at once would not say which)."""
    for key, (op, bound) in bounds.items():
        value = getattr(config, key)
        require(_BOUNDS[op](value, bound), f"{prefix}{key} must be {op} {bound}, got {value!r}")


POSITIVE = "> 0"  # an applies_when condition: the switch is a count, and the keys act where it is above 0


def _applies(value, values) -> bool:
    return value > 0 if values == POSITIVE else value in values


def refuse_unused(config: Any, prefix: str = "") -> None:
    """Refuse settings that take effect only under another value of a switch (the class's
    ``applies_when``: {keys: (switch, values)}, values a tuple of the switch's values or POSITIVE),
    given away from their defaults: silently ignored, they would train a run other than the one
    asked for (train.step_size under a cosine schedule)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    for keys, (switch, values) in getattr(type(config), "applies_when", {}).items():
        changed = [prefix + key for key in keys if getattr(config, key) != defaults[key]]
        shown = f"{prefix}{switch} > 0" if values == POSITIVE else " or ".join(f"{prefix}{switch}={v}" for v in values)
        require(_applies(getattr(config, switch), values) or not changed,
                f"{', '.join(changed)} {'has' if len(changed) == 1 else 'have'} no effect with "
                f"{prefix}{switch}={getattr(config, switch)}: set {shown}, or leave {'it' if len(changed) == 1 else 'them'} out")


def reset_unused(cls: type, section: dict) -> dict:
    """``section`` (a recorded mapping of ``cls``'s settings) with the settings ``refuse_unused``
    refuses, which an older pdekit accepted and ignored, at their defaults: as the run was made."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out = dict(section)
    for keys, (switch, values) in getattr(cls, "applies_when", {}).items():
        if not _applies(out.get(switch, defaults[switch]), values):
            out.update({key: defaults[key] for key in keys if key in out})
    return out
