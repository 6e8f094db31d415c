"""Reproducible, resumable dataset generation.

Sample i is a pure function of (problem config, seed, i): its inputs come from its own random
generator and the batched solvers treat samples independently. Finished batches are saved as
small files in ``<out>.parts/`` (each written under a temporary name, then renamed), so a run
killed at any moment resumes with the samples no finished batch holds (with any batch size); the
HDF5 file is assembled at the end, again atomically. The result does not depend on the batch size
or on interruptions.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import warnings
import time
import zipfile
from typing import Any

import numpy as np
import torch

from pdekit.data.storage import dataset_identity, read_meta, write_file
from pdekit.errors import DataFileError, PdekitError, UnstableError
from pdekit.numerics.random_fields import sample_rng
from pdekit.paths import check_hdf5_name
from pdekit.problems.base import Problem
from pdekit.progress import progress_bar

_PART = re.compile(r"^(\d{9})-(\d{9})\.npz$")


def draw_inputs(problem: Problem, seed: int, indices: range,
                device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The inputs of samples ``indices`` on the solve grid, stacked: {name: (count, *space)}, float64,
    and the parameters that vary per sample (``Problem.sample_params``), {name: (count,)}."""

    def draw(rng):
        inputs = problem.sample_inputs(rng)
        return {**inputs, **problem.draw_params(rng)}  # after the inputs: they do not change them

    drawn = [draw(sample_rng(seed, i)) for i in indices]
    return {k: torch.from_numpy(np.stack([d[k] for d in drawn])).to(device) for k in drawn[0]}


def solve_samples(problem: Problem, seed: int, indices: range, device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """The stored arrays (float32, stored grid) of samples ``indices``: {"inputs/a": ..., "fields/u": ...}.

    Each sample's inputs are drawn from its own generator (``sample_rng(seed, i)``) on the solve grid,
    solved in one batch without gradients, and restricted to the stored grid.

    Parameters
    ----------
    problem : Problem
        The problem, with its config and stored resolution.
    seed : int
        The dataset seed.
    indices : range
        Indices of the samples in the seed's stream.
    device : str or torch.device
        Where the solver runs.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"inputs/<name>"`` shaped (count, *space) for each stored input, ``"fields/<name>"``
        shaped (count, nt, *space), or (count, *space) for a steady problem, and ``"params/<name>"``
        (count,), float64, for each parameter drawn per sample.
    """
    inputs = draw_inputs(problem, seed, indices, device)
    count = len(indices)
    if count == 1 and problem.periodic:
        # MKL's batched 1D FFT differs in the last bits from its single-transform path; solving a
        # batch of two keeps a lone sample identical to the same sample inside a larger batch.
        inputs = {k: torch.cat([v, v]) for k, v in inputs.items()}
    with torch.no_grad():
        fields = problem.solve(inputs)
        for name, values in fields.items():  # never stored or trained on (online data are not checked later)
            bad = ~torch.isfinite(values[:count].flatten(1)).all(dim=1)
            if bool(bad.any()):
                raise UnstableError(f"{problem.name}: the solver returned NaN or inf in '{name}' of sample "
                                    f"{indices[int(bad.nonzero()[0, 0])]} (seed {seed}): the step or the grid does "
                                    f"not resolve it; change the problem's parameters")
        note = problem.unresolved(inputs, fields)
    if note:
        warnings.warn(f"{problem.name}: {note}", stacklevel=2)
    out = {f"inputs/{k}": problem.restrict(inputs[k][:count]) for k in problem.inputs}
    out.update({f"fields/{k}": problem.restrict(fields[k][:count]) for k in problem.fields})
    out = {k: v.to(torch.float32).cpu().numpy() for k, v in out.items()}
    out.update({f"params/{k}": inputs[k][:count].cpu().numpy() for k in problem.sample_params})  # float64
    return out


def _check_existing(out: str, identity: dict[str, Any]) -> bool:
    """True if ``out`` is already this dataset; an error if it is anything else."""
    meta = read_meta(out)
    if meta["config"] == identity:
        return True
    theirs = meta["config"]
    diffs = [
        f"{k}: {theirs.get(k)!r} there, {identity[k]!r} here"
        for k in identity if k != "params" and theirs.get(k) != identity[k]
    ]
    params = theirs.get("params", {})
    diffs += [
        f"{k}: {params.get(k)!r} there, {v!r} here" for k, v in identity["params"].items() if params.get(k) != v
    ]
    raise DataFileError(
        f"'{out}' already exists and was made with another config ({'; '.join(diffs) or 'different keys'}); "
        f"choose another --out or delete the file"
    )


def _open_parts(parts: str, identity: dict[str, Any], device_type: str) -> None:
    """Create ``parts``, or check that its finished batches are of this dataset and device type."""
    meta_path = os.path.join(parts, "meta.json")
    expected = {"dataset": identity, "device_type": device_type}
    if os.path.isdir(parts) and os.path.exists(meta_path) and _part_ranges(parts):
        with open(meta_path) as fh:
            try:
                found = json.load(fh)
            except json.JSONDecodeError:
                found = None
        if found != expected:
            was = found.get("device_type") if isinstance(found, dict) else None
            hint = (f"resume with --device {was}, or " if found and found.get("dataset") == identity else "")
            raise DataFileError(
                f"'{parts}' holds an unfinished generation of another config or device; {hint}"
                f"delete that folder to start afresh"
            )
    else:
        os.makedirs(parts, exist_ok=True)
        tmp = f"{meta_path}.{os.getpid()}.tmp"  # shards may write it at once
        with open(tmp, "w") as fh:
            json.dump(expected, fh, sort_keys=True)
        os.replace(tmp, meta_path)


@contextlib.contextmanager
def _dropped_if_unused(parts: str, alone: bool):
    """Remove ``parts`` when the solve fails before any part is saved (an unstable dt fails in the
    first batch), so a refused generation leaves no folder; shards share theirs and keep it."""
    try:
        yield
    except BaseException:
        if alone and os.path.isdir(parts) and os.listdir(parts) == ["meta.json"]:
            shutil.rmtree(parts, ignore_errors=True)
        raise


def _part_ranges(parts: str) -> list[tuple[int, int]]:
    """The (start, end) sample ranges of the finished parts, sorted (none once the folder is gone)."""
    try:
        names = os.listdir(parts)
    except FileNotFoundError:  # another run of the same data assembled the file and removed it
        return []
    return sorted((int(m.group(1)), int(m.group(2))) for m in map(_PART.match, names) if m)


def _missing(parts: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """The ranges of samples in [lo, hi) that no finished part holds (parts may overlap: batches of
    a run resumed with another batch size, or of two runs of the same data at once)."""
    gaps, position = [], lo
    for start, end in _part_ranges(parts):
        if start > position and position < hi:
            gaps.append((position, min(start, hi)))
        position = max(position, end)
    if position < hi:
        gaps.append((position, hi))
    return gaps


def _save_part(parts: str, start: int, arrays: dict[str, np.ndarray]) -> None:
    end = start + len(next(iter(arrays.values())))
    final = os.path.join(parts, f"{start:09d}-{end:09d}.npz")
    tmp = os.path.join(parts, f".tmp-{start:09d}-{socket.gethostname()}-{os.getpid()}.npz")  # per process
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k.replace("/", "__"): v for k, v in arrays.items()})
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def _load_parts(parts: str, n: int):
    """(start, arrays) of samples 0 .. n - 1 in order, from the parts; where parts overlap, the
    samples already given are cut off (a sample is the same bytes in any batch)."""
    position = 0
    for start, end in _part_ranges(parts):
        if end <= position or start >= n:
            continue
        if start > position:
            raise DataFileError(f"'{parts}' misses samples {position} .. {start - 1}: run the same command again")
        path = os.path.join(parts, f"{start:09d}-{end:09d}.npz")
        try:  # parts are written under a temporary name and renamed: damage comes from outside
            with np.load(path, allow_pickle=False) as data:
                arrays = {k.replace("__", "/"): data[k][position - start :] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataFileError(f"'{path}' is damaged ({type(exc).__name__}: {exc}); delete it and run the same "
                                f"command again: only its samples are solved again") from None
        yield position, arrays
        position = end


def generate(
    problem: Problem,
    n: int,
    seed: int,
    out: str | os.PathLike,
    batch_size: int = 32,
    device: str = "cpu",
    quiet: bool = False,
    first: int = 0,
    shard: tuple[int, int] = (0, 1),
    label: str = "",
) -> str:
    """Generate samples first .. first + n - 1 of ``problem`` into ``out`` (HDF5), resuming an
    interrupted run.

    Returns "written", "resumed" or "exists" (the file was already this dataset).

    Parameters
    ----------
    problem : Problem
        The problem, with its config and stored resolution.
    n : int
        Number of samples.
    seed : int
        The dataset seed: sample i is a function of (config, seed, i) only.
    out : str or os.PathLike
        The HDF5 file to write (its folder is created); finished batches wait in ``<out>.parts/``.
    batch_size : int
        Samples solved together (the result does not depend on it).
    device : str
        "cpu" or "cuda": where the solver runs (a resumed run must use the same device type).
    quiet : bool
        No progress bar.
    first : int
        Index of the first sample in the seed's stream (to add a later split).
    shard : (k, N)
        Solve only the k-th of N contiguous runs of samples (0 <= k < N), for N processes (or
        machines sharing the folder) generating one file: each writes its batches to the shared
        ``<out>.parts/``, and the one that finds every sample there assembles the file, bit for bit
        the file one process would write (every sample is a function of (config, seed, index)).
        Shards and resumed runs may use any ``batch_size``: only the samples no finished batch
        holds are solved.
    label : str
        Said after the problem's name on the progress bar (a recipe's split: "train", "test at 512").

    Returns
    -------
    str
        "written", "resumed", "exists" or, for a shard whose file another shard assembles,
        "shard done".

    Raises
    ------
    PdekitError
        For an empty ``out`` or one not named .h5/.hdf5 (any HDF5 suffix), n or batch_size below 1, a negative ``seed`` or ``first``, or CUDA asked
        for but unavailable.
    DataFileError
        If ``out`` exists with another config, or ``<out>.parts/`` holds an unfinished run of another
        config or device type.
    """
    out = os.fspath(out)
    if not out:
        raise PdekitError("--out is empty: give the file to write")
    check_hdf5_name(out)
    if n < 1:
        raise PdekitError(f"--n must be at least 1, got {n}")
    if seed < 0:
        raise PdekitError(f"--seed must be >= 0 (a seed picks a stream of samples), got {seed}")
    if batch_size < 1:
        raise PdekitError(f"--batch-size must be at least 1, got {batch_size}")
    device_type = torch.device(device).type
    if device_type == "cuda" and not torch.cuda.is_available():
        raise PdekitError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if first < 0:
        raise PdekitError(f"the first sample index must be >= 0, got {first}")
    k, shards = shard
    if not (shards >= 1 and 0 <= k < shards):
        raise PdekitError(f"--shard must be K/N with 0 <= K < N, got {k}/{shards}")
    _check_batch_memory(problem, min(batch_size, n), device_type)
    identity = dataset_identity(problem, n, seed, first)
    parts = out + ".parts"
    if os.path.exists(out) and _check_existing(out, identity):
        shutil.rmtree(parts, ignore_errors=True)  # left over if a run was killed right after assembly
        return "exists"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    _open_parts(parts, identity, device_type)
    lo, hi = n * k // shards, n * (k + 1) // shards  # this shard's samples (any batch size covers them)
    gaps = _missing(parts, lo, hi)  # what a killed run (with any batch size) left unsolved
    status = "resumed" if sum(b - a for a, b in gaps) < hi - lo else "written"
    todo = [(a, min(a + batch_size, b)) for a, b in gaps for a in range(a, b, batch_size)]
    bar = progress_bar(total=hi - lo, initial=hi - lo - sum(b - a for a, b in gaps), unit="sample",
                       desc=" ".join(filter(None, (problem.name, label, f"shard {k}/{shards}" if shards > 1 else ""))),
                       disable=quiet, smoothing=0.1)
    with bar, _dropped_if_unused(parts, alone=shards == 1):
        for a, b in todo:
            arrays = solve_samples(problem, seed, range(first + a, first + b), device)
            try:
                _save_part(parts, a, arrays)
            except FileNotFoundError:
                if os.path.isdir(parts):
                    raise
                break  # another run of the same data wrote the file and removed the folder (checked below)
            bar.update(b - a)
    if not _assembling_here(out, parts, identity, n, shards):
        if os.path.exists(out):  # another run of the same data wrote it
            shutil.rmtree(parts, ignore_errors=True)
            return "exists"
        return "shard done"  # another shard is still solving or assembling
    try:
        write_file(out, identity, problem.coords(), problem.field_shapes(), _load_parts(parts, n),
                   extra_attrs={"device_type": device_type})
    except BaseException:  # give the claim back, so that a retry in this process may assemble
        os.remove(os.path.join(parts, "assembling"))
        raise
    shutil.rmtree(parts, ignore_errors=True)  # (a run of the same data may still be writing a part into it)
    return status


def _check_batch_memory(problem: Problem, batch: int, device_type: str) -> None:
    """Refuse a batch whose solution alone (float64 on the solve grid, every stored time) would not
    fit in the machine's memory: a clear message rather than the system killing the run."""
    per_sample = 8 * problem.stride ** problem.ndim * sum(math.prod(s) for s in problem.field_shapes().values())
    if device_type == "cuda":
        available = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    else:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if batch * per_sample > available:
        raise PdekitError(f"{problem.name}: a batch of {batch} would hold {batch * per_sample / 2**30:.3g} GiB of "
                          f"solutions (nt = {getattr(problem.config, 'nt', 1)} times on the solve grid), more than "
                          f"this machine's {available / 2**30:.3g} GiB: lower --batch-size, nt or the resolution")


def _assembling_here(out: str, parts: str, identity: dict[str, Any], n: int, shards: int,
                     patience: float = 1800.0) -> bool:
    """Whether this process assembles the file, once its own samples are done. Not where the file is
    there already or, for a shard, where samples are missing or another process assembles; a single
    run waits while another run of the same data assembles it (up to ``patience`` seconds), so that
    every run ends with the file."""
    deadline, lost = time.monotonic() + patience, False
    while True:
        if os.path.exists(out) and _check_existing(out, identity):
            return False
        missing = bool(_missing(parts, 0, n))
        if not missing:
            try:
                if _claim(parts):
                    return True
            except FileNotFoundError:  # the other run just wrote the file and removed the folder
                pass
        if shards > 1:
            return False
        if missing and lost:  # twice: not the other run finishing
            raise DataFileError(f"'{parts}' lost finished batches while this run solved (another process removed "
                                f"them?): run the same command again")
        if time.monotonic() > deadline:
            raise DataFileError(f"another process has been assembling '{out}' for {patience / 60:.0f} minutes (see "
                                f"'{os.path.join(parts, 'assembling')}'); delete that file if it is no longer running")
        lost = missing
        time.sleep(0.5)


def _claim(parts: str) -> bool:
    """Whether this process may assemble the file: the first to create the claim does, or whoever
    finds the claim of a process of this machine that is no longer running (a killed assembler)."""
    path, me = os.path.join(parts, "assembling"), f"{socket.gethostname()} {os.getpid()}"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        with open(path) as fh:
            host, _, pid = fh.read().partition(" ")
        if host != socket.gethostname() or not pid.isdigit() or _running(int(pid)):
            return False
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(me)
        os.replace(tmp, path)
        return True
    os.write(fd, me.encode())
    os.close(fd)
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
