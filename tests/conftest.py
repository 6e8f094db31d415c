import os

import pytest
import torch

THREADS = int(os.environ.get("PDEKIT_TEST_THREADS", "2"))
torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def _same_threads_for_every_test():
    """A training run with train.threads leaves torch with that many threads; every test starts with
    the suite's count, so no result depends on which tests ran before it."""
    torch.set_num_threads(THREADS)
    yield


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    from pdekit.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
