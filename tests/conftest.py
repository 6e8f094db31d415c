import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("PDEKIT_TEST_THREADS", "2")))


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    from pdekit.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
