"""Build a model by name from a config dict, with the constructor's signature as the schema."""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any

from torch import nn

from pdekit.errors import ConfigError

MODELS: dict[str, type[nn.Module]] = {}

# filled from the data, never from the recipe
DATA_KEYS = ("in_channels", "out_channels", "ndim", "grid")
# how the models read the data's grid, recorded in checkpoints; a class whose reading changed sets its
# own ``grid_revision`` and an ``as_revision`` that rebuilds it as an earlier revision read the grid
# (2: DeepONet reads a periodic grid as periodic, before every grid as nodes; 3: the U-Net and
# ResNet pad as the grid wants by default, before always zeros and always circular)
GRID_REVISION = 3


def register_model(name: str):
    """Class decorator: register a model class under ``name`` for ``build_model`` and recipes.

    Parameters
    ----------
    name : str
        The model's name in recipes (``model.name``); also set as ``cls.registry_name``.

    Returns
    -------
    callable
        The decorator, which returns the class unchanged.
    """
    def wrap(cls):
        cls.registry_name = name
        MODELS[name] = cls
        return cls

    return wrap


def _check_type(cls: type, key: str, value: Any, default: Any) -> Any:
    """``value`` of option ``key`` checked against the type of its default: an integer option is a
    non-negative int (at least 1 where its default is, unless the class lists it in
    ``zero_allowed``), or a list of them (one per axis or level) where the constructor's
    annotation says list (a float option likewise); a list option holds positive ints (layer
    widths, channel multipliers)."""
    model = cls.registry_name
    if default is None or value is None:
        return value
    listed = "list" in str(inspect.signature(cls.__init__).parameters[key].annotation)  # one value per axis allowed
    values = value if listed and isinstance(value, (list, tuple)) else [value]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"model.{key} of {model} must be true or false, got {value!r}")
    elif isinstance(default, int):
        least = 0 if default == 0 or key in getattr(cls, "zero_allowed", ()) else 1
        if not values or not all(_is_int(v) and v >= least for v in values):
            what = f"an integer >= {least}" + (" or a list of them" if listed else "")
            raise ConfigError(f"model.{key} of {model} must be {what}, got {value!r}")
    elif isinstance(default, float):
        if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            raise ConfigError(f"model.{key} of {model} must be a number{' or a list of them' if listed else ''}, "
                              f"got {value!r}")
        value = [float(v) for v in values] if value is values else float(value)
    elif isinstance(default, (list, tuple)):
        values = [value] if _is_int(value) else value
        if not isinstance(values, (list, tuple)) or not all(_is_int(v) and v >= 1 for v in values):  # [] may be
            raise ConfigError(f"model.{key} of {model} must be a list of positive integers, got {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"model.{key} of {model} must be a string, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def model_options(cls: type) -> dict[str, Any]:
    """The constructor's keyword arguments and their defaults (the model's config schema)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self" and p.kind is not p.VAR_KEYWORD}


def option_help(cls: type) -> dict[str, str]:
    """Each option's help, from the ``Parameters`` section of the class docstring (``a, b : text``
    entries, continued on indented lines), for ``pdekit show MODEL``."""
    section = re.search(r"Parameters\n-+\n(.*?)(?:\n\n|\Z)", inspect.getdoc(cls) or "", re.S)
    helps, names = {}, []
    for line in section.group(1).splitlines() if section else []:
        entry = re.match(r"^(\w+(?:, \w+)*) :(?: (.*)|$)", line)
        if entry:
            names = entry.group(1).split(", ")
            for name in names:
                helps[name] = entry.group(2) or ""
        elif names:
            for name in names:
                helps[name] = f"{helps[name]} {line.strip()}".strip()
    return helps


def renamed_arguments(model, old: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the values given under earlier names (``type(model).renamed``: old -> new)
    moved in, with a note; a name that never existed is refused as Python would."""
    import sys

    renamed = getattr(type(model), "renamed", {})
    for key, value in old.items():
        if key not in renamed:
            raise TypeError(f"{type(model).__name__}() got an unexpected keyword argument '{key}'")
        print(f"note: {type(model).__name__}'s {key} is now {renamed[key]}", file=sys.stderr)
        current[renamed[key]] = value
    return current


def rename_options(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """A model section with its options' earlier names (the class's ``renamed``) replaced, with a note."""
    import sys

    renamed = getattr(MODELS.get(name) if isinstance(name, str) else None, "renamed", {})
    out = {}
    for key, value in config.items():
        if key in renamed:
            if renamed[key] in config:
                raise ConfigError(f"model.{key} is the old name of model.{renamed[key]}; give only {renamed[key]}")
            print(f"note: model.{key} of {name} is now model.{renamed[key]}", file=sys.stderr)
            key = renamed[key]
        out[key] = value
    return out


def check_grid(model: str, grid: str) -> None:
    """Refuse a grid other than "nodes" or "periodic" (a misspelt one would be read as nodes)."""
    if grid not in ("nodes", "periodic"):
        raise ConfigError(f"{model}: grid must be 'nodes' or 'periodic' (where the data's points lie), got {grid!r}")


def refuse_nodes(model: str, grid: str) -> None:
    """Refuse a node grid to a model whose convolutions wrap around the ends (periodic data only; the
    class says ``periodic_only = True``, so ``as_trained`` rebuilds an older run recorded on nodes)."""
    check_grid(model, grid)
    if grid != "periodic":
        raise ConfigError(f"model {model} wraps around the grid's ends, so it takes periodic data; this data's grid "
                          f"is {grid} (data.grid=periodic says a file's points are periodic, j / n)")


def build_model(config: dict[str, Any], in_channels: int, out_channels: int, ndim: int | None = None,
                grid: str | None = None) -> nn.Module:
    """``config`` holds ``name`` and the model's options; channels, ndim and the grid ("nodes":
    x_j = j / (n - 1), "periodic": x_j = j / n) come from the data, each passed only to models
    that take it (a pointwise network takes channels only).

    Options are checked against the constructor's signature and the types of its defaults; earlier
    option names (the class's ``renamed``) are read with a note.

    Parameters
    ----------
    config : dict
        ``name`` (a registered model) and the model's options (``model`` section of a recipe).
    in_channels, out_channels : int
        Channels of the input (batch, in_channels, *space) and of the output.
    ndim : int or None
        Spatial dimensions of the data (None: a model that takes ``ndim`` uses its own default).
    grid : str or None
        "nodes" or "periodic": where the data's points lie (None: the model's own default).

    Returns
    -------
    torch.nn.Module
        The new, untrained model.

    Raises
    ------
    ConfigError
        For an unknown model or option, an option set from the data, a value of the wrong type, or a
        config the model's constructor rejects.
    """
    config = dict(config)
    name = config.pop("name", None)
    if grid is not None:  # None: the model's own default
        check_grid("build_model", grid)
    if ndim is not None and (isinstance(ndim, bool) or not isinstance(ndim, int) or ndim < 1):
        raise ConfigError(f"ndim must be a positive integer (the data's spatial dimensions), got {ndim!r}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1 \
            or isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise ConfigError(f"in_channels and out_channels must be positive integers, got {in_channels!r} and "
                          f"{out_channels!r}")
    if not isinstance(name, str) or name not in MODELS:
        hint = difflib.get_close_matches(str(name), list(MODELS), n=1)
        also = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConfigError(f"unknown model '{name}'{also}; known models: {', '.join(sorted(MODELS))}")
    cls = MODELS[name]
    options = model_options(cls)
    config = rename_options(name, config)
    for pair in getattr(cls, "exclusive", ()):  # options that say the same thing two ways
        if all(key in config for key in pair):
            raise ConfigError(f"model '{name}': give {' or '.join(pair)}, not both")
    for key, value in config.items():
        if key in DATA_KEYS:
            raise ConfigError(f"model.{key} is set from the data; remove it from the config")
        if key not in options:
            allowed = [k for k in options if k not in DATA_KEYS]
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"unknown key model.{key} for model '{name}'{also}; allowed: {', '.join(allowed)}")
        config[key] = _check_type(cls, key, value, options[key])
    data = {"in_channels": in_channels, "out_channels": out_channels}
    data.update({key: value for key, value in (("ndim", ndim), ("grid", grid)) if value is not None})  # else its own
    try:
        return cls(**{k: v for k, v in data.items() if k in options}, **config)
    except ConfigError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:  # torch's refusals (a negative size) included
        raise ConfigError(f"model '{name}' rejected its config: {exc}") from None


def build_network(config: dict[str, Any], in_channels: int, out_channels: int = 1) -> nn.Module:
    """A pointwise network for a PINN (``name`` defaults to "mlp"): (n, in_channels) coordinates
    to (n, out_channels) values.

    Parameters
    ----------
    config : dict
        The ``model`` section: ``name`` (a pointwise model: mlp, siren, fourier) and its options.
    in_channels : int
        Columns of the points (space dimensions, plus one for time).
    out_channels : int
        Components of the output u.

    Returns
    -------
    torch.nn.Module
        The new, untrained network.

    Raises
    ------
    ConfigError
        For a grid model (FNO, U-Net, ...) or an invalid config (see ``build_model``).
    """
    config = {"name": "mlp", **config}
    if config["name"] in MODELS and not getattr(MODELS[config["name"]], "pointwise", False):
        pointwise = ", ".join(sorted(n for n, c in MODELS.items() if getattr(c, "pointwise", False)))
        raise ConfigError(f"model '{config['name']}' works on grids; a PINN needs a pointwise network: {pointwise}")
    return build_model(config, in_channels, out_channels)


def declared_invariant(config: dict) -> bool:
    """Whether the model a model section builds is resolution-invariant, without building it: the
    class's ``resolution_invariant``, or its ``invariant_for(config)`` where options decide."""
    cls = MODELS.get(config.get("name"))
    if cls is None:
        return True
    return cls.invariant_for(config) if hasattr(cls, "invariant_for") else bool(getattr(cls, "resolution_invariant", False))


def as_trained(config: dict, grid: str, state: dict) -> tuple[dict, str]:
    """The model section and grid that rebuild a checkpoint's model as it was trained: ``config``
    and ``grid`` (the data's), or, where the model's class reads the grid otherwise since the
    checkpoint was written (its ``grid_revision`` is later than the checkpoint's), what its
    ``as_revision(config, grid, revision)`` gives, so an old run is evaluated as it was trained."""
    cls = MODELS.get(config.get("name"))
    revision = state.get("grid_revision", 1)
    if cls is not None and revision < getattr(cls, "grid_revision", 1):
        return cls.as_revision(dict(config), grid, revision)
    if cls is not None and getattr(cls, "periodic_only", False):  # (a run from before refuse_nodes: it wrapped
        return config, "periodic"  # around on any grid, as it does on a periodic one)
    return config, grid


def count_parameters(model: nn.Module) -> int:
    """Real parameters: a complex weight counts twice."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def describe_models() -> list[tuple[str, str, int, str]]:
    """(name, summary, parameters of the default config, example shape) for ``pdekit list models``."""
    rows = []
    for name in sorted(MODELS):
        cls = MODELS[name]
        if getattr(cls, "pointwise", False):
            rows.append((name, cls.summary, count_parameters(build_model({"name": name}, 2, 1)), "points, 2 -> 1"))
            continue
        ndim = model_options(cls).get("ndim") or 1  # None: the model infers it (FNO: from modes)
        model = build_model({"name": name}, 1, 1, ndim)
        rows.append((name, cls.summary, count_parameters(model), f"{ndim}D, 1 -> 1 channel"))
    return rows
