"""pdekit's HDF5 schema (docs/data-format.md).

Root attributes ``pdekit_version``, ``problem``, ``config`` (JSON: problem, params, resolution,
n, seed, first) and ``created``; ``/coords/{x,y,t}``; ``/inputs/<name>`` shaped (n, *space);
``/fields/<name>`` shaped (n, nt, *space) or (n, *space) for steady problems; ``/params/<name>``
shaped (n,) (float64) for parameters drawn per sample; chunked by sample.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from typing import Any

import h5py
import numpy as np

from pdekit import __version__
from pdekit.errors import DataFileError
from pdekit.paths import write_atomically

REQUIRED_ATTRS = ("pdekit_version", "problem", "config", "created")
# Bump when a change to pdekit alters the bytes generated for an unchanged config (2: random
# inputs became resolution-independent; 3: cavity_2d's node pressure has zero mean), so cached and
# resumed data of the old code is not reused.
GENERATOR_VERSION = 3


def dataset_identity(problem, n: int, seed: int, first: int = 0) -> dict[str, Any]:
    """Everything the stored bytes depend on: a dataset is a pure function of this dict. The file
    holds samples first .. first + n - 1 of the stream that ``seed`` defines."""
    return {
        "problem": problem.name,
        "params": dataclasses.asdict(problem.config),
        "resolution": problem.resolution,
        "n": int(n),
        "seed": int(seed),
        "first": int(first),
        "generator": GENERATOR_VERSION,
    }


def canonical(identity: dict[str, Any]) -> str:
    """The identity as JSON with sorted keys: the ``config`` attribute a file stores, and the text
    that cache names hash.

    Parameters
    ----------
    identity : dict
        A dataset's identity (see ``dataset_identity``).

    Returns
    -------
    str
        The same JSON text for equal identities.
    """
    return json.dumps(identity, sort_keys=True)


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Root attributes of a pdekit file, with ``config`` parsed; clear errors for anything broken."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataFileError(f"data file '{path}' does not exist")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED_ATTRS if k not in f.attrs]
            if missing:
                raise DataFileError(
                    f"'{path}' is an HDF5 file but not a pdekit dataset (missing root attributes: "
                    f"{', '.join(missing)})"
                )
            meta = {k: _text(v) for k, v in f.attrs.items()}  # device_type and any other root attribute too
            meta["arrays"] = {name: f[name].shape for name in _array_names(f)}
    except OSError as exc:
        raise DataFileError(
            f"'{path}' is not a readable HDF5 file (truncated or corrupt: {exc}); delete it or choose another --out"
        ) from None
    try:
        meta["config"] = json.loads(meta["config"])
    except json.JSONDecodeError:
        raise DataFileError(f"'{path}' has a root attribute 'config' that is not valid JSON") from None
    n = meta["config"].get("n")
    for name, shape in meta["arrays"].items():
        if name.startswith(("inputs/", "fields/", "params/")) and shape[0] != n:
            raise DataFileError(f"'{path}': array '{name}' has {shape[0]} samples, the config says n = {n}")
    return meta


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _array_names(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def write_file(path: str, identity: dict[str, Any], coords: dict[str, np.ndarray],
               shapes: dict[str, tuple[int, ...]], chunks, extra_attrs: dict[str, Any] | None = None) -> None:
    """Write the whole file atomically: ``chunks`` yields (start, {name: array}) in order."""
    write_atomically(path, lambda tmp: _write(tmp, identity, coords, shapes, chunks, extra_attrs))


def _write(tmp: str, identity, coords, shapes, chunks, extra_attrs) -> None:
    n = identity["n"]
    with h5py.File(tmp, "w") as f:
        f.attrs["pdekit_version"] = __version__
        f.attrs["problem"] = identity["problem"]
        f.attrs["config"] = canonical(identity)
        f.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for key, value in (extra_attrs or {}).items():
            f.attrs[key] = value
        for name, axis in coords.items():
            f.create_dataset(f"coords/{name}", data=np.asarray(axis, dtype=np.float64))
        datasets = {
            name: f.create_dataset(name, shape=(n, *shape), dtype=np.float64 if name.startswith("params/") else np.float32,
                                   chunks=(1, *shape))
            for name, shape in shapes.items()
        }
        for start, arrays in chunks:
            for name, array in arrays.items():
                datasets[name][start : start + len(array)] = array
