"""Atomic checkpoints of plain tensors and metadata, loaded with ``weights_only=True``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from typing import Any

import torch

from pdekit.errors import DataFileError


@contextlib.contextmanager
def _interrupt_after():
    """Hold Ctrl-C (and SIGTERM where the program handles it: under torchrun) back until the block
    ends, then raise it: a checkpoint is written whole or not at all, and the user sees the usual
    "interrupted" line rather than a serializer's error."""
    if threading.current_thread() is not threading.main_thread():
        yield  # (signals reach the main thread only)
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # ignored (a background job's Ctrl-C), set outside Python or SIGTERM's default (the process ends, and
    # the rename below leaves the previous checkpoint whole): not held
    held = [sig for sig, h in previous.items() if callable(h) or (sig == signal.SIGINT and h == signal.SIG_DFL)]
    caught = []
    for sig in held:
        signal.signal(sig, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for sig in held:
            signal.signal(sig, previous[sig])
    if caught:
        signum, frame = caught[0]
        if callable(previous[signum]):
            previous[signum](signum, frame)  # the program's own handler (Python's raises KeyboardInterrupt)
        else:  # SIG_DFL: what Ctrl-C would have done
            raise KeyboardInterrupt


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write to a temporary name, fsync, then rename: a kill leaves the previous checkpoint intact."""
    tmp = f"{path}.tmp"
    with _interrupt_after():
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def load_checkpoint(path: str, mmap: bool = False) -> dict[str, Any]:
    """Load a pdekit checkpoint on the CPU, safely (``weights_only=True``).

    Parameters
    ----------
    path : str
        The checkpoint file (a run folder's checkpoint.pt).
    mmap : bool
        Map the tensors from the file rather than read them (to read its other entries cheaply).

    Returns
    -------
    dict
        Its mapping: ``model`` (the state dict), ``recipe`` (the setup's JSON) and what the Trainer
        and the task stored.

    Raises
    ------
    DataFileError
        If the file is missing, unreadable, holds arbitrary Python objects, or is no pdekit checkpoint.
    """
    if not os.path.exists(path):
        raise DataFileError(f"no checkpoint at '{path}'")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Weights only" in str(exc):
            raise DataFileError(
                f"'{path}' cannot be loaded safely with weights_only=True (it holds arbitrary Python objects); "
                f"pdekit only loads checkpoints of tensors and plain data"
            ) from None
        raise DataFileError(f"'{path}' is not a readable checkpoint (truncated or corrupt: {first_line})") from None
    if not isinstance(state, dict) or "model" not in state or "recipe" not in state:
        raise DataFileError(f"'{path}' is not a pdekit checkpoint (no model state or recipe)")
    return state


def recorded_processes(state: dict) -> list[int]:
    """The process count of each session that trained a checkpoint's run ([2, 1]: two processes,
    resumed by one); [] for a run from before they were recorded."""
    return json.loads(state.get("processes", "[]"))
