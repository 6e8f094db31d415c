"""Neural ODE cost against the horizon: backpropagation through the solver's steps ("direct")
against the adjoint method, for an adaptive (dopri5) and a fixed-step (rk4) solver.

The block is ks_node's latent vector field (16 latent channels, width 32, kernel 5) on a batch of
16 states of 64 points, integrated over T = 1, 2, 4, 8, 16 time units; the loss is the sum of
squares of z(T). Reported per setting: function evaluations of the forward solve and of the
backward pass (the adjoint's backward ODE solve; 0 for direct, which replays no evaluations), the
bytes autograd saves for the backward pass during the forward (counted by a saved-tensors hook:
what grows with the horizon), and the seconds of forward + backward: direct and adjoint timed in
5 alternating rounds after one warm-up call each (not counted), medians, one thread, with the
adjoint's time over the direct one's. Writes the section `node-memory` of docs/benchmarks.md.

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


ROUNDS = 5


def _block(method: str, adjoint: bool):
    from pdekit.models.node import ODEBlock, _Field

    torch.manual_seed(0)
    return ODEBlock(_Field(16, 32, 1, 5), method, rtol=1e-3, atol=1e-4, step_size=0.25, adjoint=adjoint)


def _call(block, z0, horizon: float) -> dict:
    """One forward + backward: its seconds, function evaluations and the bytes saved for backward."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    block.reset()
    begin = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = block(z0, t1=float(horizon)).pow(2).sum()
    forward_nfe = block.nfe
    loss.backward()
    return {"seconds": time.perf_counter() - begin, "forward_nfe": forward_nfe,
            "backward_nfe": block.nfe - forward_nfe, "saved_mb": saved[0] / 2**20}


def measure(method: str, horizon: float) -> dict:
    """{"direct": ..., "adjoint": ...}: each one warm-up call apart, then ROUNDS alternating rounds;
    the median seconds and the last round's counts."""
    blocks = {"direct": _block(method, False), "adjoint": _block(method, True)}
    z0 = torch.randn(16, 16, 64, generator=torch.Generator().manual_seed(0)).mul_(0.5)
    for block in blocks.values():
        _call(block, z0, horizon)  # warm-up (first-call costs), not counted
    seconds = {name: [] for name in blocks}
    for _ in range(ROUNDS):
        for name, block in blocks.items():
            last = _call(block, z0, horizon)
            seconds[name].append(last.pop("seconds"))
            blocks[name].last = last
    return {name: {**block.last, "seconds": statistics.median(seconds[name])} for name, block in blocks.items()}


def main() -> None:
    torch.set_num_threads(1)
    rows = ["| solver | gradient | horizon T | forward NFE | backward NFE | saved for backward (MB) | s (forward + backward) "
            "| adjoint / direct time |", "|---|---|---|---|---|---|---|---|"]
    ratios = {"dopri5": [], "rk4": []}
    for method in ("dopri5", "rk4"):
        results = {h: measure(method, h) for h in HORIZONS}
        for gradient in ("direct", "adjoint"):
            for horizon, pair in results.items():
                m, ratio = pair[gradient], pair["adjoint"]["seconds"] / pair["direct"]["seconds"]
                if gradient == "adjoint":
                    ratios[method].append(ratio)
                rows.append(f"| {method} | {gradient} | {horizon} | {m['forward_nfe']} | {m['backward_nfe']} | "
                            f"{m['saved_mb']:.2f} | {m['seconds']:.3f} | {f'{ratio:.1f}x' if gradient == 'adjoint' else ''} |")
                print(rows[-1], flush=True)
    spread = "; ".join(f"{m} {min(r):.1f}-{max(r):.1f}x" for m, r in ratios.items())
    text = "\n".join(rows) + (
        "\n\nks_node's latent vector field on 16 states of 64 points (16 latent channels); dopri5 with rtol "
        "1e-3, atol 1e-4; rk4 with step 0.25. Direct backpropagation saves every stage of every step, so its "
        "memory grows with the horizon; the adjoint saves nothing in the forward solve and pays with a "
        "backward ODE solve (its own function evaluations; dopri5's adaptive steps, and so its counts, move by "
        f"a few evaluations between machines): its time over direct backpropagation's, {spread}. Seconds: "
        f"medians of {ROUNDS} rounds alternating direct and adjoint, after one warm-up call each. Measured with "
        f"`python benchmarks/node.py` (one thread) on {machine()}, commit {git_commit()}.")
    replace_section("docs/benchmarks.md", "node-memory", text)
    print(text)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
