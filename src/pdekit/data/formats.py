"""Readers for every HDF5 layout pdekit trains on, behind one interface, and the PDEBench writer.

Layouts (docs/data-format.md has the mapping):

- ``pdekit``: pdekit's own schema (storage.py);
- ``pdebench-tensor``: one array ``tensor`` (N, T, X[, Y[, Z]]) with ``x-coordinate`` (and ``y-``,
  ``z-``) and ``t-coordinate``; Darcy files add ``nu`` (N, X, Y) and store ``tensor`` as (N, 1, X, Y);
- ``pdebench-variables``: one array per variable (``density``, ``pressure``, ``Vx``, ``Vy``, ``Vz``)
  shaped (N, T, X, ...) with the same coordinate arrays;
- ``pdebench-seeds``: one group per sample (``"0000"``, ...) holding ``data`` (T, X[, Y], C) and
  ``grid/x`` (, ``grid/y``), ``grid/t``;
- ``the-well``: groups ``dimensions``, ``boundary_conditions``, ``scalars`` and ``t0_fields`` /
  ``t1_fields`` / ``t2_fields`` with arrays (trajectory, time, *space[, D[, D]]); a leading axis
  exists only where the array varies along it (attributes ``sample_varying``, ``time_varying``).

A ``Source`` exposes every layout as named scalar channels: ``fields`` (with a time axis when
``time_dependent``) and ``inputs`` (no time axis), read lazily sample range by sample range.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable

import h5py
import numpy as np

from pdekit.data.storage import _text, read_meta, write_file
from pdekit.errors import DataFileError
from pdekit.paths import check_hdf5_name, write_atomically

PDEBENCH_VARIABLES = ("density", "pressure", "Vx", "Vy", "Vz")
AXES = ("x", "y", "z")
LAYOUTS = ("pdekit", "pdebench-tensor", "pdebench-variables", "pdebench-seeds", "the-well")

# a channel reader: (first sample, count, time index or None for all times) -> array
Reader = Callable[[int, int, "int | None"], np.ndarray]


@dataclass
class Source:
    """An open data file described in one way for every layout: named scalar channels read lazily.

    Attributes
    ----------
    path : str
        The file.
    layout : str
        One of LAYOUTS.
    n : int
        Number of samples (trajectories).
    time_dependent : bool
        Whether the fields have a time axis.
    space : tuple of int
        Grid points per spatial axis.
    coords : dict
        Coordinate arrays by axis name ("x", "y", "z", and "t" for time-dependent data).
    fields : dict
        Readers of the output channels by name: ``read(start, count, t)`` gives (count, nt, *space)
        for ``t`` None, else (count, *space); steady fields (count, *space).
    inputs : dict
        Readers of the inputs that do not vary in time by name, (count, *space): a steady problem's
        inputs (Darcy's coefficient), or fields The Well stores as constant in time (a mask), which
        a time-dependent task reads beside the state rather than predicting.
    params : dict
        Readers of parameters that vary per sample (a pdekit file's ``/params``, The Well's scalars
        that vary by trajectory and not in time), (count,) float64.
    problem : str or None
        The registered pdekit problem that made the data, where the file says so.
    attrs : dict
        Layout-specific metadata: a pdekit file's ``config``, The Well's scalars and boundary
        conditions.
    """

    path: str
    layout: str
    n: int
    time_dependent: bool
    space: tuple[int, ...]
    coords: dict[str, np.ndarray]
    fields: dict[str, Reader]
    inputs: dict[str, Reader] = field(default_factory=dict)
    params: dict[str, Reader] = field(default_factory=dict)
    problem: str | None = None  # a registered pdekit problem, where the file says so
    attrs: dict = field(default_factory=dict)  # scalars, boundary conditions, source metadata

    @property
    def ndim(self) -> int:
        return len(self.space)

    @property
    def origin_attrs(self) -> dict:
        """The metadata of the layout the data came from: a foreign file's own ``attrs``, or for a
        file ``pdekit convert`` wrote, the source's as its config recorded them ({} for generated data)."""
        if self.layout == "pdekit":
            return (self.attrs.get("config") or {}).get("source") or {}
        return self.attrs

    @property
    def nt(self) -> int:
        return len(self.coords.get("t", [])) if self.time_dependent else 1

    def channels(self) -> tuple[int, int]:
        """(input, output) channels of the operator-learning task (see dataset.load_pairs), before the
        one input channel each parameter that varies per sample adds (dataset.PairTask.shape)."""
        return len(self.inputs) + (len(self.fields) if self.time_dependent else 0), len(self.fields)


def open_source(path: str | os.PathLike) -> tuple[h5py.File, Source]:
    """Open ``path`` and describe it; the caller closes the returned file after reading.

    Parameters
    ----------
    path : str or os.PathLike
        An HDF5 file in any layout pdekit reads (see the module docstring).

    Returns
    -------
    f : h5py.File
        The file, open for reading; the readers of ``source`` read from it.
    source : Source
        Its layout, sample count, grid, coordinates and channel readers.

    Raises
    ------
    DataFileError
        If the file is missing, unreadable, in no known layout, or inconsistent with its layout.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataFileError(f"data file '{path}' does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(f"'{path}' is not a readable HDF5 file (truncated or corrupt: {exc})") from None
    layout = "detected"
    try:
        layout = detect_layout(f, path)
        return f, _READERS[layout](f, path)
    except DataFileError:
        f.close()
        raise
    except (OSError, AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        # an entry of another kind than the layout's (a group where an array belongs, a scalar
        # coordinate, ...) or a chunk that does not decompress: the file's fault, said in one line
        f.close()
        raise DataFileError(f"'{path}' breaks its {layout} layout ({type(exc).__name__}: {exc})") from None
    except BaseException:
        f.close()
        raise


@contextlib.contextmanager
def reading(path):
    """Turn a read that fails (a chunk that does not decompress, an array cut short) into a
    DataFileError naming the file."""
    try:
        yield
    except OSError as exc:
        raise DataFileError(f"'{path}': reading its data failed (corrupt or truncated: {exc})") from None


def recorded_parameters(path) -> dict:
    """The single-valued parameters a foreign file records (PDEBench's root attributes, The Well's
    constant scalars; also as kept in a file converted from them): {name: value}."""
    f, source = open_source(path)
    f.close()
    attrs = source.origin_attrs
    found = {**(attrs.get("attributes") or {}), **(attrs.get("scalars") or {})}
    return {k: v for k, v in found.items() if isinstance(v, (int, float, str))}


def file_grid(path) -> str:
    """"periodic" for a file pdekit generated of a periodic problem, or whose boundary conditions
    (The Well's ``bc_type`` groups, also as recorded in a file converted from it) are all PERIODIC,
    one or more per spatial axis; else "nodes" (no other layout says, and a grid periodic along
    some axes only is taken for nodes)."""
    f, source = open_source(path)
    with f:
        if source.problem:  # (a registered problem's own grid: its data made from the recipe are read so)
            from pdekit.problems import PROBLEMS

            return "periodic" if PROBLEMS[source.problem].periodic else "nodes"
        attrs = source.origin_attrs
    conditions, named = attrs.get("boundary_conditions") or {}, attrs.get("boundary_axes") or {}
    kinds = [str(k).upper() for k in conditions.values()]
    covered = None  # the axes The Well's groups name (associated_dims), where every group names them
    if conditions and all(name in named for name in conditions):
        covered = {d for name in conditions for d in named[name]}
    periodic = bool(kinds) and all(k == "PERIODIC" for k in kinds)
    if covered is not None:
        periodic = periodic and len(covered) >= len(source.space)
    else:  # (the groups do not say their axes, or a file converted by an earlier pdekit: one per axis at least)
        periodic = periodic and len(kinds) >= len(source.space)
    return "periodic" if periodic else "nodes"


def detect_layout(f: h5py.File, path: str = "") -> str:
    """The layout of an open HDF5 file, recognised by its root attributes and top-level names.

    Parameters
    ----------
    f : h5py.File
        The open file.
    path : str
        Its name, for the error message.

    Returns
    -------
    str
        One of LAYOUTS.

    Raises
    ------
    DataFileError
        If the file matches no layout pdekit reads.
    """
    if "pdekit_version" in f.attrs or "fields" in f:
        return "pdekit"
    if any(k in f for k in ("t0_fields", "t1_fields", "t2_fields", "dimensions")):
        return "the-well"
    if "tensor" in f:
        return "pdebench-tensor"
    if any(k in f for k in PDEBENCH_VARIABLES):
        return "pdebench-variables"
    if any(k.isdigit() and isinstance(f[k], h5py.Group) for k in f):
        return "pdebench-seeds"
    raise DataFileError(
        f"'{path}' is an HDF5 file in no layout pdekit reads (top level: {', '.join(sorted(f)) or 'empty'}); "
        f"expected one of: {', '.join(LAYOUTS)} (docs/data-format.md)"
    )


def _need(f, name: str, path: str, layout: str):
    if name not in f:
        where = f"{f.name}/{name}".lstrip("/")  # (its group's path too: 't0_fields/mask')
        raise DataFileError(f"'{path}' claims the {layout} layout but lacks '{where}'")
    return f[name]


def _shape_error(path, layout, name, shape, expected):
    return DataFileError(f"'{path}' ({layout} layout): array '{name}' has shape {tuple(shape)}, expected {expected}")


def _time_reader(ds, component=None) -> Reader:
    """Reader of an (N, T, *space[, C]) array; ``component`` picks a trailing channel."""
    def read(start, count, t):
        index = (slice(start, start + count),) + ((slice(None),) if t is None else (t,))
        out = ds[index] if component is None else ds[index + (Ellipsis, component)]
        return np.asarray(out, dtype=np.float32)
    return read


def _steady_reader(ds, squeeze_axis: int | None = None) -> Reader:
    def read(start, count, t):
        out = ds[start : start + count]
        return np.asarray(out if squeeze_axis is None else out[:, 0], dtype=np.float32)
    return read


def _param_reader(ds) -> Reader:
    def read(start, count, t):
        return np.asarray(ds[start : start + count], dtype=np.float64)
    return read


def _pdebench_coords(f, path, layout, space_rank: int, nt: int | None) -> dict[str, np.ndarray]:
    coords = {}
    for axis in AXES[:space_rank]:
        coords[axis] = np.asarray(_need(f, f"{axis}-coordinate", path, layout)[()], dtype=np.float64)
    if nt is not None:
        t = np.asarray(_need(f, "t-coordinate", path, layout)[()], dtype=np.float64)
        if len(t) not in (nt, nt + 1):
            raise _shape_error(path, layout, "t-coordinate", t.shape, f"({nt},) or ({nt + 1},) for {nt} stored times")
        coords["t"] = t[:nt]
    return coords


def _root_scalars(f) -> dict:
    """A PDEBench file's root attributes that are single numbers or text (its ``Nu``, ``beta``,
    ``M``, ...), as {"attributes": {name: value}}: the equation's parameters, kept as metadata."""
    kept = {}
    for name, value in f.attrs.items():
        value = np.asarray(value)
        if value.ndim == 0 and (np.issubdtype(value.dtype, np.number) or value.dtype.kind in "SUO"):
            kept[name] = _text(value.item())
    return {"attributes": kept} if kept else {}


def _read_pdebench_tensor(f, path) -> Source:
    layout = "pdebench-tensor"
    tensor = f["tensor"]
    if "nu" in f:  # Darcy: coefficient nu (N, X, Y) -> solution tensor (N, 1, X, Y)
        nu = f["nu"]
        if tensor.ndim != nu.ndim + 1 or tensor.shape[1] != 1 or tensor.shape[2:] != nu.shape[1:] \
                or tensor.shape[0] != nu.shape[0]:
            raise _shape_error(path, layout, "tensor", tensor.shape, f"(N, 1, *space) with nu shaped {nu.shape}")
        space = tuple(nu.shape[1:])
        coords = _pdebench_coords(f, path, layout, len(space), None)
        _check_coords(path, layout, coords, space)
        return Source(path, layout, nu.shape[0], False, space, coords, {"u": _steady_reader(tensor, 0)},
                      {"nu": _steady_reader(nu)}, attrs=_root_scalars(f))
    if tensor.ndim < 3:
        raise _shape_error(path, layout, "tensor", tensor.shape, "(N, T, X[, Y[, Z]])")
    space = tuple(tensor.shape[2:])
    coords = _pdebench_coords(f, path, layout, len(space), tensor.shape[1])
    _check_coords(path, layout, coords, space)
    return Source(path, layout, tensor.shape[0], True, space, coords, {"u": _time_reader(tensor)},
                  attrs=_root_scalars(f))


def _read_pdebench_variables(f, path) -> Source:
    layout = "pdebench-variables"
    names = [k for k in PDEBENCH_VARIABLES if k in f]
    first = f[names[0]]
    if first.ndim < 3:
        raise _shape_error(path, layout, names[0], first.shape, "(N, T, X[, Y[, Z]])")
    for name in names[1:]:
        if f[name].shape != first.shape:
            raise _shape_error(path, layout, name, f[name].shape, f"{first.shape}, the shape of '{names[0]}'")
    space = tuple(first.shape[2:])
    coords = _pdebench_coords(f, path, layout, len(space), first.shape[1])
    _check_coords(path, layout, coords, space)
    return Source(path, layout, first.shape[0], True, space, coords, {k: _time_reader(f[k]) for k in names},
                  attrs=_root_scalars(f))


def _read_pdebench_seeds(f, path) -> Source:
    layout = "pdebench-seeds"
    seeds = sorted((k for k in f if k.isdigit() and isinstance(f[k], h5py.Group)), key=int)
    first = _need(f[seeds[0]], "data", path, layout)
    if first.ndim < 3:
        raise _shape_error(path, layout, f"{seeds[0]}/data", first.shape, "(T, X[, Y], C)")
    nt, space, nc = first.shape[0], tuple(first.shape[1:-1]), first.shape[-1]
    for k in seeds:
        shape = _need(f[k], "data", path, layout).shape
        if shape != first.shape:
            raise _shape_error(path, layout, f"{k}/data", shape, f"{first.shape}, the shape of '{seeds[0]}/data'")
    grid = f[seeds[0]]
    coords = {axis: np.asarray(_need(grid, f"grid/{axis}", path, layout)[()], dtype=np.float64)
              for axis in AXES[: len(space)]}
    coords["t"] = np.asarray(_need(grid, "grid/t", path, layout)[()], dtype=np.float64)
    if len(coords["t"]) != nt:
        raise _shape_error(path, layout, f"{seeds[0]}/grid/t", coords["t"].shape, f"({nt},)")
    _check_coords(path, layout, coords, space)
    for k in seeds[1:]:  # one grid and time axis for all the samples
        for axis, values in coords.items():
            other = np.asarray(_need(f[k], f"grid/{axis}", path, layout)[()], dtype=np.float64)
            if other.shape != values.shape or not np.allclose(other, values, rtol=1e-9, atol=0):
                raise DataFileError(f"'{path}' ({layout} layout): '{k}/grid/{axis}' differs from '{seeds[0]}/grid/"
                                    f"{axis}'; pdekit reads one grid and time axis for all the samples")

    def reader(c):
        def read(start, count, t):
            out = [f[s]["data"][(slice(None) if t is None else t, Ellipsis, c)] for s in seeds[start : start + count]]
            return np.asarray(np.stack(out), dtype=np.float32)
        return read

    return Source(path, layout, len(seeds), True, space, coords, {f"c{c}": reader(c) for c in range(nc)},
                  attrs=_root_scalars(f))


def _attr_list(group, name: str, default) -> list[str]:
    value = group.attrs.get(name)
    if value is None:
        return list(default)
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(value)]


def _read_the_well(f, path) -> Source:
    layout = "the-well"
    dims = _need(f, "dimensions", path, layout)
    axes = _attr_list(dims, "spatial_dims", [a for a in AXES if a in dims])
    if not axes:  # (a shape message would list no axis: "(trajectories, time, )")
        raise DataFileError(f"'{path}' ({layout} layout): 'dimensions' names no spatial axis (its attribute "
                            f"spatial_dims, or arrays x, y, z); pdekit reads fields on a grid of 1 to 3 axes")
    coords = {}
    for axis in (*axes, "time"):  # sample-varying (one row per trajectory) where the rows agree
        values = np.asarray(_need(dims, axis, path, layout)[()], dtype=np.float64)
        if values.ndim > 2 or values.ndim == 2 and not np.allclose(values, values[:1], rtol=1e-9, atol=0):
            what = "times" if axis == "time" else f"{axis} coordinates"
            raise DataFileError(f"'{path}' ({layout} layout): its trajectories are stored at different {what} "
                                f"('dimensions/{axis}' rows differ); pdekit reads one grid for all the samples")
        coords["t" if axis == "time" else axis] = values if values.ndim == 1 else values[0]
    space, nt = tuple(len(coords[a]) for a in axes), len(coords["t"])
    n = int(f.attrs.get("n_trajectories", 0)) or None
    fields: dict[str, Reader] = {}
    static: dict[str, Reader] = {}  # fields constant in time (a mask, a coefficient): inputs, as The Well reads them
    for order, group_name in enumerate(("t0_fields", "t1_fields", "t2_fields")):
        if group_name not in f:
            continue
        group = f[group_name]
        for name in _attr_list(group, "field_names", sorted(group)):
            ds = _need(group, name, path, layout)
            sample, time = bool(ds.attrs.get("sample_varying", True)), bool(ds.attrs.get("time_varying", True))
            if not all(np.atleast_1d(ds.attrs.get("dim_varying", True))):
                raise DataFileError(f"'{path}': field '{group_name}/{name}' does not vary along every spatial "
                                    f"dimension; such fields are not supported")
            expected = ((n or ds.shape[0],) if sample else ()) + ((nt,) if time else ()) + space \
                + (len(axes),) * order
            if ds.shape != expected:
                raise _shape_error(path, layout, f"{group_name}/{name}", ds.shape,
                                   f"{expected} (trajectories, time, {', '.join(axes)}" + ", D" * order + ")")
            if sample and n is None:
                n = ds.shape[0]
            components = [()] if order == 0 else [tuple(c) for c in np.ndindex(*(len(axes),) * order)]
            for comp in components:
                label = name + (f"_{''.join(axes[i] for i in comp)}" if comp else "")  # The Well's: stress_xy
                (fields if time else static)[label] = _well_reader(ds, sample, time, comp)
    if not fields:
        also = f" (only fields constant in time: {', '.join(static)})" if static else ""
        raise DataFileError(f"'{path}' claims the {layout} layout but has no field that varies in time in t0_fields, "
                            f"t1_fields or t2_fields{also}")
    attrs = {"dataset_name": str(_text(f.attrs.get("dataset_name", ""))), "scalars": {}, "boundary_conditions": {}}
    params: dict[str, Reader] = {}
    for name, ds in (f["scalars"].items() if "scalars" in f else []):
        sample, time = bool(ds.attrs.get("sample_varying", False)), bool(ds.attrs.get("time_varying", False))
        if time:  # a diagnostic over time (an energy): neither an input nor a few numbers of metadata
            attrs.setdefault("scalars_not_read", []).append(name)
        elif sample and np.issubdtype(ds.dtype, np.number):  # one value per trajectory: a parameter, as pdekit's
            if ds.shape != (n or 1,):
                raise _shape_error(path, layout, f"scalars/{name}", ds.shape, f"({n or 1},): one value per trajectory "
                                   f"(it is sample_varying)")
            params[name] = _param_reader(ds)
        else:
            value = np.asarray(ds[()]).tolist()
            attrs["scalars"][name] = ([_text(v) for v in value] if isinstance(value, list) else _text(value))  # (JSON)
    for name, group in (f["boundary_conditions"].items() if "boundary_conditions" in f else []):
        attrs["boundary_conditions"][name] = str(_text(group.attrs.get("bc_type", "")))
        if group.attrs.get("associated_dims") is not None:  # (kept, so a converted file's grid is the same)
            attrs.setdefault("boundary_axes", {})[name] = [str(_text(d)) for d in np.atleast_1d(group.attrs["associated_dims"])]
    return Source(path, layout, n or 1, True, space, coords, fields, static, params, attrs=attrs)


def _well_reader(ds, sample: bool, time: bool, comp: tuple) -> Reader:
    """Reader of a field of The Well: (count, nt, *space), or (count, *space) at time ``t`` and for
    a field constant in time (an input)."""
    def read(start, count, t):
        index = (slice(start, start + count),) if sample else ()
        if time:
            index += (slice(None),) if t is None else (t,)
        out = np.asarray(ds[index + (Ellipsis,) + comp], dtype=np.float32)
        if not sample:
            out = np.broadcast_to(out, (count, *out.shape))
        return np.ascontiguousarray(out)
    return read


def _read_pdekit(f, path) -> Source:
    meta = read_meta(path)
    cfg = meta["config"]
    from pdekit.problems import PROBLEMS

    cls = PROBLEMS.get(meta["problem"])
    if cls is not None:
        time_dependent, field_names, input_names = cls.time_dependent, cls.fields, cls.inputs
    else:  # converted from another layout: the file lists its own channels
        if "time_dependent" not in cfg or not cfg.get("fields"):
            raise DataFileError(f"'{path}': problem '{meta['problem']}' is not one this pdekit knows, and the file does "
                                f"not list its own fields and whether it is time-dependent (its config has "
                                f"{sorted(cfg)}); was it written by a newer pdekit or a plugin's problem?")
        time_dependent, field_names, input_names = cfg["time_dependent"], cfg["fields"], cfg.get("inputs", [])
    arrays = {}
    for kind, names in (("fields", field_names), ("inputs", input_names)):
        for name in names:
            ds = _need(f, f"{kind}/{name}", path, "pdekit")
            arrays[f"{kind}/{name}"] = ds
    first = arrays[f"fields/{field_names[0]}"]
    space = tuple(first.shape[2:] if time_dependent else first.shape[1:])
    stored = f.get("coords", {})  # (HDF5 lists its names alphabetically, not in the arrays' axis order)
    axes = cfg.get("axes") or [a for a in AXES if a in stored]
    coords = {k: stored[k][()] for k in [*axes, *(k for k in stored if k not in axes)]}
    if time_dependent and "t" not in coords:
        raise DataFileError(f"'{path}' (pdekit layout) lacks the array 'coords/t' (the stored times)")
    lead = (cfg["n"], len(coords["t"])) if time_dependent else (cfg["n"],)
    for name, ds in arrays.items():  # every array: the same samples, stored times and grid
        expected = (cfg["n"], *space) if name.startswith("inputs/") else (*lead, *space)
        if ds.shape != expected:
            raise _shape_error(path, "pdekit", name, ds.shape, f"{expected} (samples{', times' * time_dependent}, "
                               f"grid), from config n, coords/t and '{next(iter(arrays))}'")
    _check_coords(path, "pdekit", coords, space, axes)
    params = {k: _param_reader(ds) for k, ds in f.get("params", {}).items()}
    return Source(path, "pdekit", cfg["n"], time_dependent, space, coords,
                  {k: (_time_reader if time_dependent else _steady_reader)(arrays[f"fields/{k}"]) for k in field_names},
                  {k: _steady_reader(arrays[f"inputs/{k}"]) for k in input_names}, params,
                  problem=meta["problem"] if cls is not None else None, attrs={"config": cfg})


def _check_coords(path, layout, coords, space, axes=AXES):
    for axis, size in zip(axes, space):
        if axis in coords and len(coords[axis]) != size:
            raise DataFileError(f"'{path}' ({layout} layout): coordinate '{axis}' has {len(coords[axis])} "
                                f"points, the data have {size}")


_READERS = {
    "pdekit": _read_pdekit,
    "pdebench-tensor": _read_pdebench_tensor,
    "pdebench-variables": _read_pdebench_variables,
    "pdebench-seeds": _read_pdebench_seeds,
    "the-well": _read_the_well,
}


# --- writing -----------------------------------------------------------------------------------
def read_all(source: Source, batch: int = 64):
    """Yield (start, {"fields/<name>", "inputs/<name>" or "params/<name>": array}) over the whole source."""
    for start in range(0, source.n, batch):
        count = min(batch, source.n - start)
        arrays = {f"fields/{k}": r(start, count, None) for k, r in source.fields.items()}
        arrays.update({f"inputs/{k}": r(start, count, None) for k, r in source.inputs.items()})
        arrays.update({f"params/{k}": r(start, count, None) for k, r in source.params.items()})
        yield start, arrays


def write_pdebench(path: str, source: Source, layout: str = "pdebench-tensor") -> None:
    """Write ``source`` in one of PDEBench's layouts, atomically. The tensor layout holds one
    field (and, for steady problems, one input as ``nu``); the variables layout takes fields
    named like PDEBench's variables; the seeds layout stores every field as a channel of ``data``."""
    names = list(source.fields)
    if source.params:
        raise DataFileError(f"PDEBench's layouts have no per-sample parameters; this data varies "
                            f"{', '.join(source.params)} from sample to sample: keep it in the pdekit layout")
    if source.time_dependent and source.inputs:
        raise DataFileError(f"PDEBench's layouts have no fields constant in time; this data has {', '.join(source.inputs)}: "
                            f"keep it in the pdekit layout")
    if layout == "pdebench-tensor" and (len(names) != 1 or not source.time_dependent and len(source.inputs) != 1):
        raise DataFileError(f"PDEBench's tensor layout holds one field{'' if source.time_dependent else ' and one input'}"
                            f"; this data has fields {names} and inputs {list(source.inputs)}: "
                            + ("use --layout pdebench-seeds" if source.time_dependent else "keep it in the pdekit layout"))
    if layout == "pdebench-variables" and not set(names) <= set(PDEBENCH_VARIABLES):
        raise DataFileError(f"PDEBench's variables layout names its arrays {', '.join(PDEBENCH_VARIABLES)}; "
                            f"this data has {names}")
    if layout != "pdebench-tensor" and not source.time_dependent:
        raise DataFileError(f"steady data (inputs -> fields) only fit PDEBench's tensor layout, not {layout}")
    named = [a for a in source.coords if a != "t"]
    if named != list(AXES[: len(source.space)]):
        raise DataFileError(f"PDEBench's layouts name their axes {', '.join(AXES[: len(source.space)])}; this data's "
                            f"are {', '.join(named)}: keep it in the pdekit layout")
    write_atomically(path, lambda tmp: _write_pdebench(tmp, source, layout, names))


def _write_pdebench(tmp: str, source: Source, layout: str, names: list[str]) -> None:
    n, space = source.n, source.space
    with h5py.File(tmp, "w") as f:
        f.attrs.update(source.origin_attrs.get("attributes") or {})  # PDEBench's root attributes (Nu, beta, ...), read back
        if layout == "pdebench-seeds":
            width = max(4, len(str(n - 1)))
            for start, arrays in read_all(source):
                for i in range(len(next(iter(arrays.values())))):
                    g = f.create_group(str(start + i).zfill(width))
                    g["data"] = np.stack([arrays[f"fields/{k}"][i] for k in names], axis=-1)
                    for axis in AXES[: len(space)]:
                        g[f"grid/{axis}"] = source.coords[axis]
                    g["grid/t"] = source.coords["t"]
        else:
            for axis in AXES[: len(space)]:
                f[f"{axis}-coordinate"] = source.coords[axis]
            if source.time_dependent:
                t = source.coords["t"]
                f["t-coordinate"] = np.append(t, 2 * t[-1] - t[-2]) if len(t) > 1 else t  # T + 1 entries
                shape = (n, len(t), *space)
            else:
                shape = (n, 1, *space)
            targets = {("tensor" if layout == "pdebench-tensor" else k): f"fields/{k}" for k in names}
            out = {name: f.create_dataset(name, shape=shape, dtype=np.float32) for name in targets}
            if not source.time_dependent and source.inputs:
                nu = f.create_dataset("nu", shape=(n, *space), dtype=np.float32)
            for start, arrays in read_all(source):
                count = len(arrays[f"fields/{names[0]}"])
                for name, key in targets.items():
                    data = arrays[key]
                    out[name][start : start + count] = data if source.time_dependent else data[:, None]
                if not source.time_dependent and source.inputs:
                    nu[start : start + count] = arrays[f"inputs/{next(iter(source.inputs))}"]


def convert(src: str, dst: str, layout: str = "pdekit") -> Source:
    """Copy ``src`` (any layout) to ``dst`` in ``layout`` (pdekit or a PDEBench layout), arrays
    kept bit for bit (float32; per-sample parameters float64). Returns the source's description.

    ``dst`` is written under a temporary name and then renamed; an existing ``dst`` is replaced
    (the command line refuses one first).

    Parameters
    ----------
    src : str
        The file to read, in any layout pdekit reads.
    dst : str
        The file to write.
    layout : str
        "pdekit", "pdebench-tensor", "pdebench-variables" or "pdebench-seeds".

    Returns
    -------
    Source
        The description of ``src`` (its file closed).

    Raises
    ------
    DataFileError
        If ``src`` cannot be read, ``layout`` cannot be written, or the data do not fit it.
    PdekitError
        If ``dst`` is not named as an HDF5 file (.h5, .hdf5).
    """
    check_hdf5_name(os.fspath(dst))
    f, source = open_source(src)
    with f:
        if layout == "pdekit":
            shapes = {f"fields/{k}": ((source.nt,) if source.time_dependent else ()) + source.space for k in source.fields}
            shapes.update({f"inputs/{k}": source.space for k in source.inputs})
            shapes.update({f"params/{k}": () for k in source.params})
            if source.layout == "pdekit":
                identity = source.attrs["config"]
            else:
                identity = {"problem": "external", "n": source.n, "resolution": source.space[0], "params": {},
                            "seed": None, "first": 0, "time_dependent": source.time_dependent,
                            "fields": list(source.fields), "inputs": list(source.inputs),
                            "axes": [a for a in source.coords if a != "t"],  # the order of the arrays' axes
                            "source": {"layout": source.layout, "file": os.path.basename(src), **source.attrs}}
            extra = {"converted_from": json.dumps({"layout": source.layout, "file": os.path.abspath(src)})}
            if "device_type" in f.attrs:  # (a pdekit file's: its bytes are those of that device type)
                extra["device_type"] = _text(f.attrs["device_type"])
            write_file(dst, identity, source.coords, shapes, read_all(source), extra_attrs=extra)
        elif layout in LAYOUTS[1:4]:
            write_pdebench(dst, source, layout)
        else:
            raise DataFileError(f"cannot write the {layout} layout; choose one of: pdekit, pdebench-tensor, "
                                f"pdebench-variables, pdebench-seeds")
    return source
