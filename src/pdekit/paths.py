"""Output paths: checked before work starts, so a bad --out costs one line, not a run; atomic writes."""

from __future__ import annotations

import json
import os

from pdekit.errors import PdekitError


def _refuse(path: str, exc: OSError) -> PdekitError:
    return PdekitError(f"cannot write '{path}': {exc.strerror or exc}; choose another output path")


def check_writable_dir(path: str, keep: bool = True) -> None:
    """Create the folder ``path`` (parents included) and check a file can be written in it; with
    ``keep=False`` the folders this created are removed again, so a run refused later leaves none."""
    created, head = [], os.path.abspath(path)
    while not os.path.exists(head):
        created.append(head)
        head = os.path.dirname(head)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".pdekit-write-check-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise _refuse(path, exc) from None
    finally:
        for folder in created if not keep else ():  # deepest first
            try:
                os.rmdir(folder)
            except OSError:
                break  # not made, or another process wrote into it meanwhile: leave it


def check_writable_file(path: str, hdf5: bool = False) -> None:
    """Check that the file ``path`` can be written (its folder is created), without creating it;
    with ``hdf5``, that its name says HDF5 (``check_hdf5_name``)."""
    if not path:
        raise PdekitError("the output path is empty: give a file name")
    if hdf5:
        check_hdf5_name(path)
    if os.path.isdir(path):
        raise PdekitError(f"'{path}' is a folder; give a file name")
    check_writable_dir(os.path.dirname(os.path.abspath(path)))


HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


def check_hdf5_name(path: str) -> None:
    """Refuse an output name whose suffix says another format: the file written is HDF5 whatever its
    name, and ``data.csv`` or ``data.npz`` holding HDF5 would mislead whoever opens it next."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in HDF5_SUFFIXES:
        named = f"'{suffix}'" if suffix else "no suffix"
        raise PdekitError(f"'{path}' has {named}, but the file written is HDF5: name it "
                          f"{' or '.join(repr(s) for s in HDF5_SUFFIXES[:2])} (for example "
                          f"'{os.path.splitext(path)[0] or 'data'}.h5')")


def write_atomically(path: str, write) -> None:
    """``write(tmp)`` writes the file under a temporary name, which then replaces ``path``: a reader
    never sees half a file, and a failed or interrupted write leaves none behind. The file and the
    rename reach the disk before this returns, so what a caller deletes next (the parts a data file
    was assembled from) is not lost with it in a power cut."""
    tmp = f"{path}.tmp"
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # the folder's entry too (POSIX)
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path: str, data: dict) -> None:
    """Write ``data`` as JSON under a temporary name, then rename: a reader never sees half a file."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except OSError as exc:
        raise _refuse(path, exc) from None
