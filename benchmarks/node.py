"""Neural ODE cost against the horizon: backpropagation through the solver's steps ("direct")
against the adjoint method, for an adaptive (dopri5) and a fixed-step (rk4) solver.

The block is ks_node's latent vector field (16 latent channels, width 32, kernel 5) on a batch of
16 states of 64 points, integrated over T = 1, 2, 4, 8, 16 time units; the loss is the sum of
squares of z(T). Reported per setting: function evaluations of the forward solve and of the
backward pass (the adjoint's backward ODE solve; 0 for direct, which replays no evaluations), the
bytes autograd saves for the backward pass during the forward (counted by a saved-tensors hook:
what grows with the horizon), and the seconds of forward + backward (median of 3 rounds; one
thread). Writes the section `node-memory` of docs/benchmarks.md.

    python benchmarks/node.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import git_commit, machine, replace_section  # noqa: E402

HORIZONS = (1, 2, 4, 8, 16)


def measure(method: str, adjoint: bool, horizon: float) -> dict:
    from pdekit.models.node import ODEBlock, _Field

    torch.manual_seed(0)
    block = ODEBlock(_Field(16, 32, 1, 5), method, rtol=1e-3, atol=1e-4, step_size=0.25, adjoint=adjoint)
    z0 = torch.randn(16, 16, 64).mul_(0.5)
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    seconds = []
    for round_ in range(3):
        block.reset()
        saved[0] = 0
        begin = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = block(z0, t1=float(horizon)).pow(2).sum()
        forward_nfe = block.nfe
        loss.backward()
        seconds.append(time.perf_counter() - begin)
    return {"forward_nfe": forward_nfe, "backward_nfe": block.nfe - forward_nfe, "saved_mb": saved[0] / 2**20,
            "seconds": statistics.median(seconds)}


def main() -> None:
    torch.set_num_threads(1)
    rows = ["| solver | gradient | horizon T | forward NFE | backward NFE | saved for backward (MB) | s (forward + backward) |",
            "|---|---|---|---|---|---|---|"]
    for method in ("dopri5", "rk4"):
        for adjoint in (False, True):
            for horizon in HORIZONS:
                m = measure(method, adjoint, horizon)
                rows.append(f"| {method} | {'adjoint' if adjoint else 'direct'} | {horizon} | {m['forward_nfe']} | "
                            f"{m['backward_nfe']} | {m['saved_mb']:.2f} | {m['seconds']:.3f} |")
                print(rows[-1], flush=True)
    text = "\n".join(rows) + (
        "\n\nks_node's latent vector field on 16 states of 64 points (16 latent channels); dopri5 with rtol "
        "1e-3, atol 1e-4; rk4 with step 0.25. Direct backpropagation saves every stage of every step, so its "
        "memory grows with the horizon; the adjoint saves nothing in the forward solve and pays with a "
        "backward ODE solve (its own function evaluations; dopri5's adaptive steps, and so its counts, move by "
        "a few evaluations between machines). Measured with `python benchmarks/node.py` "
        f"(one thread) on {machine()}, commit {git_commit()}.")
    replace_section("docs/benchmarks.md", "node-memory", text)
    print(text)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
