"""MP-PDE's processor layer in plain torch (pdekit.models.mppde: a gather of the edges' ends and
index_add_ onto the nodes, one edge list shared by the batch) against the same layer written with
PyTorch Geometric's MessagePassing (mean aggregation over a batch of disjoint graphs, its usual
batching). Same weights, same numbers (checked); time of forward + backward of one layer, median
of 7 rounds after a warm-up, for 16 graphs of n = 50, 200 and 1000 points (1D periodic grid, three
neighbours on each side), hidden 128. Writes the section `message-passing` of docs/benchmarks.md.

    bash benchmarks/setup_peers.sh && . .venv-bench/bin/activate   # torch_geometric 2.8.1: a peer, not a dependency
    python benchmarks/message_passing.py [--threads 2]
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


def pyg_layer(layer):
    """The same computation as ``layer`` (a pdekit.models.mppde._Layer) as a PyG MessagePassing."""
    from torch_geometric.nn import MessagePassing

    class Layer(MessagePassing):
        def __init__(self):
            super().__init__(aggr="mean")

        def forward(self, h, u, edge_index, rel):
            total = self.propagate(edge_index, h=h, u=u, rel=rel)
            return layer.norm(h + layer.update(torch.cat([h, total, u], dim=-1)))

        def message(self, h_i, h_j, u_i, u_j, rel):
            return layer.message(torch.cat([h_i, h_j, u_i - u_j, rel], dim=-1))

    return Layer()


def timed(fns, rounds: int = 7) -> list[float]:
    """Median seconds of each function over alternating rounds, after one warm-up call each."""
    seconds = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(rounds):
        for fn, out in zip(fns, seconds):
            begin = time.perf_counter()
            fn()
            out.append(time.perf_counter() - begin)
    return [statistics.median(s) for s in seconds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import torch_geometric

    from pdekit.models.mppde import MPPDE

    batch, hidden, inputs = 16, 128, 26
    rows = ["| points per graph | edges per graph | plain torch (ms) | PyG (ms) | PyG / plain |", "|---|---|---|---|---|"]
    for n in (50, 200, 1000):
        torch.manual_seed(0)
        model = MPPDE(inputs, 25, 1, "periodic", hidden=hidden, layers=1, neighbors=3)
        layer = model.processor[0]
        src, dst, rel, degree = model.graph((n,), "cpu")
        h = torch.randn(batch, n, hidden, requires_grad=True)
        u = torch.randn(batch, n, inputs)
        # PyG: the batch as one graph of disjoint copies; edge_index rows (source, target)
        offsets = (torch.arange(batch) * n).repeat_interleave(len(src))
        edge_index = torch.stack([src.repeat(batch) + offsets, dst.repeat(batch) + offsets])
        rel_flat = rel[0].repeat(batch, 1)
        other = pyg_layer(layer)

        def plain():
            layer(h, u, src, dst, rel, degree).sum().backward()

        def pyg():
            other(h.reshape(-1, hidden), u.reshape(-1, inputs), edge_index, rel_flat).sum().backward()

        with torch.no_grad():
            same = layer(h, u, src, dst, rel, degree).reshape(-1, hidden)
            diff = float((same - other(h.reshape(-1, hidden), u.reshape(-1, inputs), edge_index, rel_flat)).abs().max())
        assert diff < 1e-4, diff
        a, b = timed([plain, pyg])
        rows.append(f"| {n} | {len(src)} | {1e3 * a:.2f} | {1e3 * b:.2f} | {b / a:.2f} |")
        print(rows[-1], flush=True)
    text = "\n".join(rows) + (
        f"\n\nOne MP-PDE processor layer, forward + backward, {batch} graphs, hidden {hidden}, {inputs} input "
        f"channels (25 history steps and one parameter); the two give the same numbers (max difference below "
        f"1e-4). PyTorch Geometric {torch_geometric.__version__}, {args.threads} threads. pdekit keeps the plain "
        f"torch version: no dependency, the batch shares one edge list, and it is as fast (gathering with "
        f"index_select rather than advanced indexing, h[:, dst], which was slower in an earlier, unrecorded run). "
        f"No GPU was available for this run, so the GPU side of the comparison is still open. Measured with "
        f"`python benchmarks/message_passing.py` on {machine()}, commit {git_commit()}.")
    replace_section("docs/benchmarks.md", "message-passing", text)
    print(text)


if __name__ == "__main__":
    main()
