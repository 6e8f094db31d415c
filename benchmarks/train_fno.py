"""FNO training benchmarks, written to docs/benchmarks.md.

    bash benchmarks/setup_peers.sh && . .venv-bench/bin/activate
    python benchmarks/train_fno.py speed [--device cuda]    # pdekit vs neuraloperator, same architecture
    python benchmarks/train_fno.py accuracy burgers_fno     # a full recipe: error and wall time

Speed: the same FNO in both libraries (neuraloperator 2.0 with use_channel_mlp=False is the paper's
architecture; its n_modes = 16 keeps rfft modes 0..8, which is pdekit's modes = 9, and in 2D its
(16, 16) is pdekit's (8, 9)); parameter counts are checked to agree within 1%. Both models get the
same random batch; the step is forward, relative L2 loss, backward and an AdamW step. The two
libraries alternate in rounds and each figure is the median over rounds, as the ratio
pdekit / neuraloperator measured in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from _report import git_commit, machine, replace_section

from pdekit.models import build_model
from pdekit.models.registry import count_parameters
from pdekit.train.losses import relative_l2_loss


def _step_time(model, x, y, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        relative_l2_loss(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    _sync(x)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(x)
    return (time.perf_counter() - start) / steps


@torch.no_grad()
def _inference_time(model, x, repeats):
    model(x)
    _sync(x)
    start = time.perf_counter()
    for _ in range(repeats):
        model(x)
    _sync(x)
    return (time.perf_counter() - start) / repeats / len(x)


def _sync(x):
    if x.is_cuda:
        torch.cuda.synchronize()


def speed(device: str, rounds: int) -> str:
    from neuralop.models import FNO as PeerFNO

    cases = [
        ("1D, 1024 points, width 64, 4 layers, batch 20", 1, 20, 1024, 64, [9], (16,)),
        ("2D, 64 x 64, width 32, 4 layers, batch 16", 2, 16, 64, 32, [8, 9], (16, 16)),
    ]
    rows = ["| case | device | params pdekit / peer | train step pdekit | train step neuraloperator | ratio | "
            "inference per sample pdekit | neuraloperator | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for label, ndim, batch, n, width, modes, peer_modes in cases:
        torch.manual_seed(0)
        ours = build_model({"name": "fno", "modes": modes, "width": width, "depth": 4, "lifting_channels": 2 * width,
                            "projection_channels": 2 * width}, 1, 1, ndim).to(device)
        peer = PeerFNO(n_modes=peer_modes, in_channels=1, out_channels=1, hidden_channels=width, n_layers=4,
                       use_channel_mlp=False).to(device)
        p_ours, p_peer = count_parameters(ours), count_parameters(peer)
        assert abs(p_ours / p_peer - 1) < 0.01, (p_ours, p_peer)
        x = torch.randn(batch, 1, *(n,) * ndim, device=device)
        y = torch.randn(batch, 1, *(n,) * ndim, device=device)
        train = {"ours": [], "peer": []}
        infer = {"ours": [], "peer": []}
        steps = 5 if device == "cpu" else 20
        for _ in range(rounds):
            for key, model in (("ours", ours), ("peer", peer)):
                train[key].append(_step_time(model, x, y, steps))
                infer[key].append(_inference_time(model, x, steps))
        t_o, t_p = statistics.median(train["ours"]), statistics.median(train["peer"])
        i_o, i_p = statistics.median(infer["ours"]), statistics.median(infer["peer"])
        rows.append(f"| {label} | {device} | {p_ours:,} / {p_peer:,} | {1e3 * t_o:.1f} ms | {1e3 * t_p:.1f} ms | "
                    f"{t_o / t_p:.2f} | {1e3 * i_o:.2f} ms | {1e3 * i_p:.2f} ms | {i_o / i_p:.2f} |")
        print(rows[-1], flush=True)
    import neuralop

    return ("\n".join(rows) + f"\n\nneuraloperator {neuralop.__version__}; {rounds} alternating rounds, medians. "
            f"Measured with `python benchmarks/train_fno.py speed --device {device}` at commit {git_commit()} "
            f"on {machine()}.")


def accuracy(recipe_name: str, overrides: list[str], quick: bool = False) -> str:
    """One row: validation error (what choices are made on) and test error (touched once)."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe(recipe_name, quick=quick, overrides=overrides)
    start = time.perf_counter()
    run_dir = "runs/bench-" + "-".join([recipe.name, *overrides]).replace("/", "_")
    results = run_recipe(recipe, run_dir, quiet=False)
    wall = time.perf_counter() - start
    transfer = ", ".join(f"{r}: {e:.4f}" for r, e in results["resolution_transfer"].items())
    speed = "n/a"
    if results["speedup"] is not None:
        speed = f"{results['speedup']:.2g}x"
    return (f"| {recipe.name} {' '.join(overrides)} | {results['resolution']} | {results['val_rel_l2']:.4f} | "
            f"{results['test_rel_l2']:.4f} | {results['epochs']} | {results['train_seconds'] / 60:.1f} | "
            f"{wall / 60:.1f} | {transfer} | {speed} | {machine()}, commit {git_commit()} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["speed", "accuracy"])
    parser.add_argument("recipe", nargs="?")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (set explicitly, also on CUDA)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the recipe's quick variant (accuracy)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.what == "speed":
        replace_section("docs/benchmarks.md", f"fno-speed-{args.device}", speed(args.device, args.rounds))
    else:
        if not args.recipe:
            sys.exit("accuracy needs a recipe name")
        row = accuracy(args.recipe, args.overrides, args.quick)
        print(row)
        with open("docs/benchmarks.md") as fh:
            content = fh.read()
        marker = "<!-- fno-accuracy-validated:end -->"
        if marker not in content:
            replace_section("docs/benchmarks.md", "fno-accuracy-validated",
                            "| recipe | resolution | validation rel. L2 | test rel. L2 | epochs | train min | "
                            "wall min (with data) | resolution transfer | surrogate speed-up at equal accuracy | "
                            "machine |\n|---|---|---|---|---|---|---|---|---|---|")
            content = open("docs/benchmarks.md").read()
        with open("docs/benchmarks.md", "w") as fh:
            fh.write(content.replace(marker, row + "\n" + marker))


if __name__ == "__main__":
    main()
