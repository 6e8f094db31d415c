"""Offline against online training on the same cores: a fixed dataset reused for E epochs, against
the same number of SGD steps on fresh samples solved while training, and against online training
held to the offline run's wall time.

    python benchmarks/online.py [--full] [RECIPE ...]     (default burgers_fno darcy_fno, quick variants)

For each recipe, three runs, each from an empty data cache and timed from the start (data
generation included) to the end of training:

- offline: the recipe as shipped: N samples generated with 2 threads, then E epochs with 2 threads;
- online, fresh: ``data.source=online`` with one solver worker (1 thread) beside a trainer with
  1 thread, the FIRO buffer of N samples (the offline dataset's memory): the same E x N / batch
  steps, each sample drawn once;
- online, equal wall time: the reservoir buffer with ``data.reuse`` set so that the worker, at
  the throughput measured in this run, keeps up with the trainer within the offline run's wall time.

The test split (the same samples in every run) is scored once, on the final weights (no choice is
made, so nothing is read from validation). The table replaces the section ``online-RECIPES`` of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from _report import git_commit, machine, replace_section  # noqa: E402


def timed_run(recipe_name: str, quick: bool, overrides: list[str], label: str) -> dict:
    """Train from an empty data cache; the wall time, the test error and the online figures."""
    from pdekit.data.dataset import load_task
    from pdekit.eval.metrics import relative_l2
    from pdekit.pipeline import train_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe(recipe_name, quick=quick, overrides=overrides + ["eval.resolutions=[]"])
    folder = os.path.join("runs", "bench-online", f"{recipe.name}-{label}")
    shutil.rmtree(folder, ignore_errors=True)
    cache = tempfile.mkdtemp(prefix="pdekit-bench-")
    os.environ["PDEKIT_DATA"] = cache
    try:
        started = time.perf_counter()
        trained, files = train_recipe(recipe, folder, quiet=True)
        wall = time.perf_counter() - started
        x, y, _ = load_task(files["test"], recipe.data)
        test = float(relative_l2(trained.predict(x), y).mean())
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    last = trained.history[-1]
    steps = recipe.train.epochs * math.ceil(recipe.data.n_train / recipe.train.batch_size)
    wait = last.get("trainer_wait_s", 0.0)
    return {"wall": wall, "train": trained.train_seconds, "test": test, "steps": steps,
            "fresh": last.get("fresh_samples", recipe.data.n_train), "wait": wait,
            "solver_rate": last.get("solver_samples_per_s"),
            "trainer_rate": steps * recipe.train.batch_size / max(trained.train_seconds - wait, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", default=["burgers_fno", "darcy_fno"])
    parser.add_argument("--full", action="store_true", help="the recipes as shipped (default: their quick variants)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    where = machine()  # now: the online runs leave torch with the trainer's one thread
    lines = ["| recipe | data | SGD steps | distinct training samples | wall s (data + training) | trainer waited s | "
             "solver samples/s | trainer samples/s | test rel. L2 |", "|---|---|---|---|---|---|---|---|---|"]
    for name in args.recipes:
        from pdekit.recipes import load_recipe

        n = load_recipe(name, quick=not args.full).data.n_train
        runs = [("offline", ["train.threads=2"])]
        online = ["data.source=online", "data.workers=1", "train.threads=1", f"data.buffer={n}"]
        runs.append(("online, fresh", online + ["data.buffer_policy=firo"]))
        results = {}
        for label, overrides in runs:
            results[label] = timed_run(name, not args.full, overrides, label.replace(", ", "-"))
            print(label, results[label], flush=True)
        fresh, offline = results["online, fresh"], results["offline"]
        # the reuse at which one worker, at the throughput just measured, feeds the trainer within offline's time
        affordable = fresh["solver_rate"] * max(offline["wall"] - 10.0, 1.0)  # ~10 s: workers start, buffer fills
        reuse = max(1.0, round(fresh["steps"] * load_recipe(name, quick=not args.full).train.batch_size / affordable, 1))
        label = f"online, reservoir (reuse {reuse:g})"
        results[label] = timed_run(name, not args.full, online + ["data.buffer_policy=reservoir", f"data.reuse={reuse}"],
                                   "online-reservoir")
        print(label, results[label], flush=True)
        for label, r in results.items():
            rate = "-" if r["solver_rate"] is None else f"{r['solver_rate']:.1f}"
            lines.append(f"| {name}{'' if args.full else ' (quick)'} | {label} | {r['steps']} | {int(r['fresh']):,} | "
                         f"{r['wall']:.0f} | {r['wait']:.0f} | {rate} | {r['trainer_rate']:.0f} | {r['test']:.4f} |")
    lines += ["", "Offline: 2 threads for generation and training. Online: one solver worker (1 thread) beside the "
              "trainer (1 thread); the buffer holds as many samples as the offline dataset. Distinct samples count "
              "the buffer's first fill. Solver samples/s: the worker's output over its lifetime (idle when the "
              "buffer is ahead); trainer samples/s: samples drawn per second of training not spent waiting. "
              "Test error on the final weights, the same test samples for every run. "
              f"Machine: {where}, commit {git_commit()}."]
    tag = "-".join(args.recipes) + ("" if args.full else "-quick")
    replace_section("docs/benchmarks.md", f"online-{tag}", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
