"""The trainer's L-BFGS chunks (train/lbfgs.py: make_lbfgs, lbfgs_chunk) on the Rosenbrock function:
every chunk does all its iterations unless a tolerance is met, and the chunks add up to one long run."""

import torch

from pdekit.train.lbfgs import lbfgs_chunk, make_lbfgs


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _minimize(chunk: int, budget: int = 500):
    """L-BFGS from the classic start (-1.2, 1) in chunks of ``chunk`` iterations, as the trainer runs it."""
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    lbfgs = make_lbfgs([x], history_size=50)

    def closure():
        lbfgs.zero_grad()
        f = _rosenbrock(x)
        f.backward()
        return f

    chunks, reason = [], ""
    while not reason and sum(chunks) < budget:
        ran, reason = lbfgs_chunk(lbfgs, closure, chunk)
        chunks.append(ran)
    return x.detach(), chunks, reason


def test_lbfgs_chunks_do_all_their_iterations_and_reach_the_rosenbrock_minimum():
    one_run, (iterations,), reason = _minimize(500)
    assert 30 <= iterations <= 45 and reason.startswith("L-BFGS made no further progress"), reason
    assert float((one_run - 1).abs().max()) < 1e-9 and float(_rosenbrock(one_run)) < 1e-19
    for chunk in (2, 3, 10):
        x, chunks, reason = _minimize(chunk)
        assert chunks[:-1] == [chunk] * (len(chunks) - 1), (chunk, chunks)  # only the last one ends early
        assert sum(chunks) == iterations and reason.startswith("L-BFGS made no further progress"), (chunks, reason)
        assert torch.equal(x, one_run), (chunk, x)  # the chunks add up to the one run
