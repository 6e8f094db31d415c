"""The recipe type and the registry of recipe kinds (each kind is one module of this package)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS: dict[str, type] = {}
COMMON_KEYS = ("name", "description", "kind", "quick")


def register_kind(cls):
    """Class decorator for a recipe kind: ``name``, ``sections`` (its top-level keys besides the
    common ones), ``renamed`` (old section names), ``task`` (the Task class it trains), ``schemas``
    (the dataclasses whose fields are each checked section's keys) and ``load(raw) -> dict of
    validated sections``."""
    KINDS[cls.name] = cls
    return cls


def refuse_keys_of_other_sections(kind, raw: dict) -> None:
    """A key given in the wrong section (rollout.unroll for train.unroll) is named with its section,
    before each section's own check, which knows only its own keys."""
    import dataclasses

    from pdekit.errors import ConfigError

    known = {section: {f.name for t in types for f in dataclasses.fields(t)} for section, types in kind.schemas.items()}
    for section, keys in known.items():
        given = raw.get(section)
        for key in given if isinstance(given, dict) else ():
            elsewhere = [s for s, k in known.items() if s != section and key in k]
            if key not in keys and elsewhere:
                raise ConfigError(f"'{key}' is not a key of section '{section}': it is {elsewhere[0]}.{key}")


def require_data_source(raw: dict) -> None:
    """Refuse a data section that names neither a problem nor a file (it became burgers_1d's data,
    the default problem, without a word)."""
    from pdekit.errors import ConfigError

    data = raw.get("data") or {}
    if isinstance(data, dict) and not data.get("problem") and not data.get("file"):
        raise ConfigError("the recipe's data section names no data: give data.problem (pdekit list problems) or "
                          "data.file (an HDF5 file)")


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: its sections as attributes (``recipe.data``, ``recipe.train``, ...)."""
    name: str
    description: str
    kind: str
    sections: dict
    raw: dict  # the resolved recipe (quick and overrides applied), for hashing and run folders

    def __getattr__(self, key: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if key in sections:
            return sections[key]
        raise AttributeError(f"a {self.__dict__.get('kind')} recipe has no section '{key}'")

    def to_json(self) -> str:
        """The resolved recipe as JSON with sorted keys: what a checkpoint stores to recognise its run."""
        return json.dumps(self.raw, sort_keys=True)

    def data_problem(self, resolution: int | None = None, params: dict | None = None):
        """The data's pdekit Problem at ``resolution`` (default: the recipe's stored resolution),
        with ``params`` over the recipe's own problem parameters."""
        from pdekit.problems import get_problem

        cls = get_problem(self.data.problem)
        return cls.from_params(resolution or self.data.resolution or cls.default_resolution,
                               {**self.data.params, **(params or {})})


def model_section(raw: dict) -> dict:
    """The recipe's ``model`` section, checked to name a model, its options' earlier names replaced."""
    from pdekit.errors import ConfigError
    from pdekit.models.registry import rename_options

    model = raw.get("model")
    if not isinstance(model, dict) or "name" not in model:
        raise ConfigError("recipe section 'model' must be a mapping with a 'name' (see `pdekit list models`)")
    if model.get("cond_channels"):
        raise ConfigError("model.cond_channels is set from the data: in a rollout recipe, parameters drawn per "
                          "sample (data.params.<name>_max) reach a unet's embedding with rollout.conditioning="
                          "embedding; operator recipes do not feed conditioning scalars yet")
    return {"name": model["name"], **rename_options(model["name"], {k: v for k, v in model.items() if k != "name"})}
