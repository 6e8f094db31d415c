"""Is the Tucker-factorized FNO's gap to the dense FNO pdekit's, or the factorization's? Both
libraries' dense and Tucker FNOs on the same Darcy data, trained by the same loop.

    bash benchmarks/setup_peers.sh && . .venv-bench/bin/activate
    python benchmarks/tfno_gap.py [--seeds 2]

Data: darcy_fno --quick (29 x 29 from a 141 solve, 200 training, 20 validation and 50 test samples).
Every model is trained by ``pdekit.train.fit`` with darcy_fno --quick's train keys (AdamW, lr 2e-3,
weight decay 1e-4, cosine, 40 epochs, batch 20, the square's 8 symmetries as augmentation) and
scored on the test split; only the model changes. pdekit: its FNO (modes 8, width 24, 4 layers,
padding 0.1) dense and with Tucker ranks 1, 0.1, 0.02 (plus rank 1 without weight decay);
neuraloperator 2.0: its FNO with n_modes (16, 16) (the same kept modes, k = -8..7 and 0..8),
hidden_channels 24, 4 layers, domain padding 0.1 and its defaults otherwise (channel MLPs in the
blocks), dense and with factorization "tucker" at the same ranks. What to compare is each
library's TFNO against its own dense FNO. Results are kept in runs/tfno_gap/results.json as each
model finishes (a killed run continues; ``--table-only`` writes the table of what is there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import torch

from _report import git_commit, machine, replace_section

from pdekit.models import build_model
from pdekit.models.registry import count_parameters

RANKS = (1.0, 0.1, 0.02)
RESULTS = "runs/tfno_gap/results.json"  # each model's runs, kept as they finish


def data():
    from pdekit.data.dataset import load_task
    from pdekit.pipeline import prepare_data
    from pdekit.recipes import load_recipe

    recipe = load_recipe("darcy_fno", quick=True)
    files = prepare_data(recipe, quiet=True)
    return recipe, {split: load_task(files[split], recipe.data)[:2] for split in ("train", "val", "test")}


def models(recipe) -> dict:
    """name -> (builder, train-key overrides)."""
    from neuralop.models import FNO as PeerFNO

    ours = dict(recipe.model)

    def pdekit(**extra):
        return lambda: build_model({**ours, **extra}, 1, 1, 2, "nodes")

    def peer(**extra):
        return lambda: PeerFNO(n_modes=(16, 16), in_channels=1, out_channels=1, hidden_channels=ours["hidden_channels"],
                               n_layers=ours["n_layers"], domain_padding=ours["padding"], **extra)

    out = {"pdekit dense": (pdekit(), {}), "neuraloperator dense": (peer(), {})}
    for rank in RANKS:
        out[f"pdekit tucker {rank:g}"] = (pdekit(factorization="tucker", rank=rank), {})
        out[f"neuraloperator tucker {rank:g}"] = (peer(factorization="tucker", rank=rank), {})
    out["pdekit tucker 1, no weight decay"] = (pdekit(factorization="tucker", rank=1.0), {"weight_decay": 0.0})
    return out


def run(recipe, splits, build, overrides, seed, epochs=0) -> dict:
    from pdekit.data.symmetry import pair_augmentation
    from pdekit.eval.metrics import relative_l2
    from pdekit.train import fit
    from pdekit.train.config import make_train_config
    from pdekit.train.supervised import SupervisedTask

    keys = {k: v for k, v in json.loads(recipe.to_json())["train"].items() if k not in ("device", "threads")}
    keys.update(overrides, seed=seed, **({"epochs": epochs} if epochs else {}))
    _, task_cfg = make_train_config(SupervisedTask, keys, owner="tfno_gap")
    task = SupervisedTask(splits["train"], splits["val"], task_cfg, augmentation=pair_augmentation(("dihedral",), 2))
    torch.manual_seed(seed)
    model = build()
    trained = fit(model, task, quiet=True, **keys)
    x, y = splits["test"]
    return {"test": float(relative_l2(trained.predict(x), y).mean()), "val": trained.history[-1]["val_rel_l2"],
            "params": count_parameters(model)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=0, help="(a quick check of the script: fewer epochs)")
    parser.add_argument("--table-only", action="store_true", help="the table from the runs done so far")
    args = parser.parse_args()
    torch.set_num_threads(2)
    recipe, splits = data()
    done = json.load(open(RESULTS)) if os.path.exists(RESULTS) and not args.epochs else {}
    results = {}
    for name, (build, overrides) in models(recipe).items():
        if len(done.get(name, [])) >= args.seeds:  # a killed benchmark continues where it stopped
            results[name] = done[name][: args.seeds]
            continue
        if args.table_only:
            continue
        results[name] = [run(recipe, splits, build, overrides, seed, args.epochs) for seed in range(args.seeds)]
        print(name, results[name], file=sys.stderr, flush=True)
        if not args.epochs:
            os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
            json.dump({**done, **results}, open(RESULTS, "w"), indent=1)
    rows = ["| model | parameters | test rel. L2, mean (min-max) | vs the library's dense FNO | validation |",
            "|---|---|---|---|---|"]
    for name, runs in results.items():
        library = name.split()[0]
        dense = statistics.mean(r["test"] for r in results[f"{library} dense"])  # (run first, so always there)
        test = [r["test"] for r in runs]
        mean = statistics.mean(test)
        rows.append(f"| {name} | {runs[0]['params']:,} | {mean:.4f} ({min(test):.4f}-{max(test):.4f}) | "
                    f"{mean / dense:.2f}x | {statistics.mean(r['val'] for r in runs):.4f} |")
    import neuralop

    text = "\n".join(rows) + (f"\n\nneuraloperator {neuralop.__version__}; {args.seeds} seeds. Measured with "
                              f"`python benchmarks/tfno_gap.py --seeds {args.seeds}` at commit {git_commit()} on "
                              f"{machine()}.")
    replace_section("docs/benchmarks.md", "tfno-gap", text)
    print(text)


if __name__ == "__main__":
    main()
