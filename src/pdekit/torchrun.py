"""torchrun for ``pdekit run|train --nproc N``: torch's launcher, without its traceback where the
processes have said why they stopped.

A process that refuses a setting prints one line and exits 2, and one interrupted by Ctrl-C exits
130 with the launcher's one line; torchrun would add its log lines and a ChildFailedError or
SignalException traceback, and exit 1. Any other first failure keeps torchrun's summary and exit
status (the failing process's own traceback is above it)."""

from __future__ import annotations

import logging
import sys

QUIET_EXITS = (2, 130)  # pdekit's own: a user error said in one line, an interruption


def main(argv: list[str] | None = None) -> int:
    """Run torchrun's command line ``argv``; its exit status (the processes' for a refusal or an
    interruption)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # the agent's log lines ("Received 2 death signal, shutting down workers", "failed (exitcode: 2)") say
    # what the processes said, or, for another failure, what ChildFailedError's summary says again (each
    # of its loggers has its own level: the parent's would not do)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("torch.distributed.elastic") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.CRITICAL)
    try:
        run(parse_args(argv))
    except ChildFailedError as exc:
        # a refusal first, wherever it is among the failures: the first failure is timed to the second only,
        # and a process waiting on the refusing one in a collective fails too ("Connection closed by peer")
        codes = {failure.exitcode for failure in exc.failures.values()}
        first = exc.get_first_failure()[1].exitcode
        code = 2 if 2 in codes else first  # (the others were stopped because of it: SIGTERM)
        if code not in QUIET_EXITS:
            raise
        return code
    except SignalException:  # the launcher's Ctrl-C or SIGTERM: the processes were stopped
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
