"""Progress bars, one way for every long step (generation, training, inversion).

At a terminal or in a notebook a bar redraws ten times a second; written to a file (a batch job's
log, a pipe) it redraws every 30 s, so a log holds a line per half minute rather than thousands
of carriage-return updates.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL = 30.0  # seconds between redraws when the bar's stream is not a terminal


def redraw_interval(stream=None) -> float:
    """Seconds between redraws of a bar written to ``stream`` (default stderr)."""
    stream = sys.stderr if stream is None else stream
    interactive = "ipykernel" in sys.modules or bool(getattr(stream, "isatty", lambda: False)())
    return 0.1 if interactive else LOG_INTERVAL


def progress_bar(**options) -> tqdm:
    """A tqdm bar on stderr (``options`` as tqdm's), redrawn as ``redraw_interval`` says."""
    options.setdefault("file", sys.stderr)
    options.setdefault("dynamic_ncols", True)
    options.setdefault("mininterval", redraw_interval(options["file"]))
    return tqdm(**options)


def show_postfix(bar: tqdm, value) -> None:
    """Show ``value`` (a mapping or a string) after the bar: at once at a terminal, at the next
    timed redraw in a log (an immediate refresh would redraw it every epoch there)."""
    live = getattr(bar, "mininterval", 0.0) < LOG_INTERVAL  # (a disabled bar has none)
    if isinstance(value, str):
        bar.set_postfix_str(value, refresh=live)
    else:
        bar.set_postfix(value, refresh=live)
