"""The recipe type and the registry of recipe kinds (each kind is one module of this package)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS: dict[str, type] = {}
COMMON_KEYS = ("name", "description", "kind", "quick")


def register_kind(cls):
    """Class decorator for a recipe kind: ``name``, ``sections`` (its top-level keys besides the
    common ones), ``renamed`` (old section names) and ``load(raw) -> dict of validated sections``."""
    KINDS[cls.name] = cls
    return cls


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

    def data_problem(self, resolution: int | None = None):
        """The data's pdekit Problem at ``resolution`` (default: the recipe's stored resolution)."""
        from pdekit.problems import get_problem

        cls = get_problem(self.data.problem)
        return cls.from_params(resolution or self.data.resolution or cls.default_resolution, self.data.params)
