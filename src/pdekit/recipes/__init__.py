"""Recipes: YAML files shipped in this folder, one per reproducible experiment.

Every recipe has ``name``, ``description``, ``kind`` (what is trained: ``operator``, the default,
or ``pinn``), the sections its kind declares and ``quick`` (dotted overrides applied by
``--quick``). A kind is one module of this package (operator.py, pinn.py) registered with
``@register_kind``: its sections, each validated by the dataclass of the package it configures,
and the checks across sections. ``load_recipe`` validates everything before any work starts.
"""

from __future__ import annotations

import copy
import difflib
import os
import sys
from importlib import resources
from typing import Any

import yaml

from pdekit.config import reset_unused
from pdekit.errors import ConfigError
from pdekit.recipes.base import COMMON_KEYS, KINDS, Recipe, refuse_keys_of_other_sections, register_kind  # noqa: F401
from pdekit.train.config import RENAMED

def list_recipes() -> list[tuple[str, str]]:
    """The shipped recipes (the YAML files of this package), sorted by name.

    Returns
    -------
    list of tuple of str
        ``(name, description)`` per recipe.
    """
    rows = []
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            raw = yaml.safe_load(entry.read_text())
            rows.append((entry.name[:-5], raw.get("description", "")))
    return rows


def shipped_recipe_text(name: str) -> str | None:
    """The YAML text of the shipped recipe ``name`` (comments included), or None if there is none."""
    entry = resources.files(__package__) / f"{name}.yaml"
    return entry.read_text() if entry.is_file() else None


def _read(name_or_path: str) -> dict:
    if os.path.isdir(name_or_path) and shipped_recipe_text(name_or_path) is None:
        raise ConfigError(f"'{name_or_path}' is a folder, not a recipe (a YAML file or a shipped recipe's name)")
    if os.path.exists(name_or_path) and not os.path.isdir(name_or_path):  # a file or a pipe; a folder named like a
        # shipped recipe (a run's --out) does not hide it
        try:
            with open(name_or_path, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:
            raise ConfigError(f"'{name_or_path}' is not a YAML recipe (not text; a data file goes in the "
                              f"recipe's data.file)") from None
        where = name_or_path
    else:
        text, where = shipped_recipe_text(name_or_path), name_or_path
        if text is None:
            known = [r[0] for r in list_recipes()]
            hint = difflib.get_close_matches(name_or_path, known, n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"no recipe or file '{name_or_path}'{also}; shipped recipes: {', '.join(known)}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"'{where}' is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"'{where}' must hold a mapping (name, kind and the kind's sections)")
    raw.setdefault("name", os.path.splitext(os.path.basename(where))[0])
    return raw


def parse_value(text: str) -> Any:
    """A command-line value: YAML scalars and lists, and numbers such as 1e-3 that YAML 1.1 reads as
    text; nothing (``key=``) is the empty string (YAML would read None)."""
    if not text:
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def apply_override(raw: dict, dotted: str, value: Any, top_keys: tuple[str, ...],
                   renamed: dict[str, str] | None = None) -> tuple[str, ...]:
    """Set one dotted key of a recipe mapping in place, creating sections on the way; earlier names
    (of train keys and of the model's options) are replaced by the current ones, with a note.
    Returns the key's path under its current names.

    Parameters
    ----------
    raw : dict
        The recipe mapping, changed in place.
    dotted : str
        The key, e.g. ``"model.width"`` or ``"data.params.nu"``.
    value : any
        The value to set.
    top_keys : tuple of str
        The recipe's allowed top-level keys (``quick`` and ``kind`` cannot be overridden).
    renamed : dict or None
        The kind's earlier section names and their new ones (``network`` -> ``model``), read with a note.

    Raises
    ------
    ConfigError
        If the key starts with no allowed section, or a step on its path is not a section.
    """
    keys = dotted.split(".")
    if keys[0] in (renamed or {}):
        print(f"note: the recipe section '{keys[0]}' is now '{renamed[keys[0]]}'", file=sys.stderr)
        keys[0] = renamed[keys[0]]
    if len(keys) == 2 and keys[0] == "train" and keys[1] in RENAMED:
        print(f"note: train.{keys[1]} is now train.{RENAMED[keys[1]]}", file=sys.stderr)
        keys[1] = RENAMED[keys[1]]
    if len(keys) == 2 and keys[0] == "model" and isinstance(raw.get("model"), dict):
        from pdekit.models.registry import rename_options

        keys[1] = next(iter(rename_options(raw["model"].get("name"), {keys[1]: None})))
    if keys[0] not in top_keys or keys[0] in ("quick", "kind"):
        allowed = ", ".join(k for k in top_keys if k not in ("quick", "kind", "description"))
        raise ConfigError(f"unknown override '{dotted}': it must start with one of {allowed}")
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{key}' is not a section")
    node[keys[-1]] = value
    return tuple(keys)


def apply_quick_and_overrides(raw: dict, quick: bool, overrides: list[str] | None, top_keys: tuple[str, ...],
                              renamed: dict[str, str] | None = None) -> None:
    """Apply the recipe's ``quick`` overrides (when asked) and then the command line's, in place
    (earlier section names, ``renamed``, read as their new ones)."""
    quick_overrides = raw.pop("quick", None) or {}
    if not isinstance(quick_overrides, dict):
        raise ConfigError(f"recipe '{raw['name']}': quick must be a mapping of dotted keys to values "
                          f"(data.n_train: 200), got {type(quick_overrides).__name__}")
    if quick:
        if not quick_overrides:
            raise ConfigError(f"recipe '{raw['name']}' has no quick variant")
        for key, value in quick_overrides.items():
            apply_override(raw, key, value, top_keys, renamed)
        raw["name"] = f"{raw['name']}-quick"
    given: dict[tuple[str, ...], str] = {}  # each key's path, under its current names, and its override
    for pair in overrides or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"overrides are key=value with a dotted key (model.width=64), got '{pair}'")
        path = apply_override(raw, key.strip(), parse_value(value.strip()), top_keys, renamed)
        same = next((p for p in given if p[: len(path)] == path or path[: len(p)] == p), None)
        if same is not None:  # (the last would win silently: one key twice, under an old name, or inside another)
            raise ConfigError(f"{given[same]} and {pair.strip()} set the same key: give it once")
        given[path] = pair.strip()


def load_recipe(source: str | dict, quick: bool = False, overrides: list[str] | None = None) -> Recipe:
    """``source``: a shipped recipe's name, a YAML file, or an already-read recipe mapping.

    Old section and key names are read with a note; the quick overrides (when asked) and then the
    command line's are applied, and every section is validated by its kind before any work starts.

    Parameters
    ----------
    source : str or dict
        A shipped recipe's name (``pdekit list recipes``), the path of a YAML file, or a recipe
        mapping (not changed: it is copied).
    quick : bool
        Apply the recipe's ``quick`` overrides and append "-quick" to its name.
    overrides : list of str or None
        Dotted ``key=value`` overrides, e.g. ``["model.width=64", "train.epochs=10"]``.

    Returns
    -------
    Recipe
        The validated recipe; ``recipe.raw`` holds the resolved mapping.

    Raises
    ------
    ConfigError
        For an unknown recipe or kind, invalid YAML, an unknown key, a bad override or an invalid
        value in any section.
    """
    raw = copy.deepcopy(source if isinstance(source, dict) else _read(source))
    kind_name = raw.setdefault("kind", "operator")
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        raise ConfigError(f"unknown recipe kind '{kind_name}'; known kinds: {', '.join(sorted(KINDS))}")
    kind = KINDS[kind_name]
    for old, new in kind.renamed.items():
        if old in raw:
            if new in raw:
                raise ConfigError(f"'{old}' is the old name of the section '{new}'; give only '{new}'")
            print(f"note: the recipe section '{old}' is now '{new}'", file=sys.stderr)
            raw[new] = raw.pop(old)
    train = raw.get("train")
    for old, new in RENAMED.items() if isinstance(train, dict) else ():
        if old in train and new not in train:
            print(f"note: train.{old} is now train.{new}", file=sys.stderr)
            train[new] = train.pop(old)
    top_keys = COMMON_KEYS + kind.sections
    unknown = [k for k in raw if k not in top_keys]
    if unknown:
        hint = difflib.get_close_matches(str(unknown[0]), top_keys, n=1)
        also = f" (did you mean '{hint[0]}'?)" if hint else ""
        article = "an" if kind_name[:1] in "aeiou" else "a"
        raise ConfigError(f"unknown recipe key '{unknown[0]}'{also} for {article} {kind_name} recipe; allowed: "
                          f"{', '.join(top_keys)}")
    apply_quick_and_overrides(raw, quick, overrides, top_keys, kind.renamed)
    name = raw.get("name")  # (after the overrides: name=../x is one)
    if not _plain_name(name):
        raise ConfigError(f"the recipe's name must be a plain file name (it names the run folder runs/<name>), "
                          f"got {name!r}")
    for section in kind.sections:
        if not isinstance(raw.get(section) or {}, dict):
            raise ConfigError(f"recipe section '{section}' must be a mapping, got {raw[section]!r}")
    refuse_keys_of_other_sections(kind, raw)
    sections = kind.load(raw)  # validates and writes the resolved sections back into raw
    return Recipe(name=str(raw["name"]), description=str(raw.get("description", "")), kind=kind_name,
                  sections=sections, raw=raw)


def _steady_file(path: str) -> bool:
    """Whether ``path`` is a readable data file of steady data (False where it cannot be read: the
    recipe's own check then says why)."""
    from pdekit.data.formats import open_source
    from pdekit.errors import PdekitError

    try:
        f, source = open_source(path)
    except (PdekitError, OSError):
        return False
    f.close()
    return not source.time_dependent


def _plain_name(name) -> bool:
    """A recipe name that can name a run folder under runs/: text, no path separator, no leading dot."""
    return isinstance(name, str) and bool(name.strip()) and not name.startswith(".") and not any(c in name for c in "/\\")


def load_saved_recipe(raw: dict, overrides: list[str] | None = None) -> Recipe:
    """A run's recorded recipe (its checkpoint's), read as the pdekit that wrote it read it: keys it
    accepted and ignored, refused since (a target time on a steady problem, settings of no effect
    such as train.step_size under a cosine schedule, eval.resolutions of a model tied to its
    grid, time indices of a steady file), are set to their defaults, and a name that is
    not a plain file name keeps its last part, so an older run still evaluates and inverts.

    Parameters
    ----------
    raw : dict
        The recorded recipe mapping (not changed: it is copied).
    overrides : list of str or None
        As ``load_recipe``'s (``pdekit eval``'s eval.KEY=VALUE settings).

    Returns
    -------
    Recipe
    """
    from pdekit.models import MODELS
    from pdekit.models.registry import declared_invariant
    from pdekit.problems import PROBLEMS

    raw = copy.deepcopy(raw)
    data = raw.get("data")
    if isinstance(data, dict):
        if data.get("test_file") and not data.get("file"):
            data["test_file"] = ""
        cls = PROBLEMS.get(data.get("problem")) if isinstance(data.get("problem"), str) else None
        if not data.get("file") and cls is not None and not cls.time_dependent:
            data.update(input_time=0, target_time=-1, input_steps=1)
        if data.get("file") and (data.get("input_time", 0), data.get("target_time", -1)) != (0, -1) \
                and _steady_file(data["file"]):
            data.update(input_time=0, target_time=-1, input_steps=1)
    if raw.get("kind") == "rollout" and isinstance(raw.get("eval"), dict):
        raw["eval"].pop("plot_samples", None)
    model_class = MODELS.get(raw["model"].get("name")) if isinstance(raw.get("model"), dict) else None
    if getattr(model_class, "periodic_only", False) and isinstance(data, dict) and data.get("grid", "auto") == "auto":
        data["grid"] = "periodic"  # (a run on a file read as nodes before such models refused them: it wrapped)
    if raw.get("kind", "operator") == "operator" and isinstance(raw.get("eval"), dict) \
            and isinstance(raw.get("model"), dict) and not declared_invariant(raw["model"]):
        raw["eval"]["resolutions"] = []  # (refused since for a model tied to its grid; its transfer meant nothing)
    kind = KINDS.get(str(raw.get("kind", "operator")))
    for section, classes in getattr(kind, "schemas", {}).items():  # settings of no effect, refused since
        for cls in classes:
            if isinstance(raw.get(section), dict):
                raw[section] = reset_unused(cls, raw[section])
    name = str(raw.get("name"))
    if not _plain_name(name):
        raw["name"] = os.path.basename(name.replace("\\", "/")).lstrip(".") or "run"
    return load_recipe(raw, overrides=overrides)


from pdekit.recipes import operator, pinn, rollout  # noqa: E402,F401  (the kinds register themselves)
