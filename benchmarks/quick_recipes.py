"""Wall time of every shipped recipe's quick variant, as a new user meets it.

    python benchmarks/quick_recipes.py [--only NAME ...] [--threads 2] [--merge]

Runs ``pdekit run NAME --quick`` for each recipe in turn, in one new data cache shared by the run
(a recipe whose data an earlier recipe already made, burgers_deeponet after burgers_fno for
example, finds them cached: the table says so; PINN recipes have no data file), each run into a temporary folder. Reports the
wall time of the whole command (data generation, training, evaluation, report) and the recipe's
headline error from metrics.json. The quick variants are meant to finish within 3 minutes on 2
CPU cores. With --merge the table goes into docs/benchmarks.md (section quick-recipes); rows of
recipes not run this time are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _report import git_commit, machine, read_section, replace_section

from pdekit.recipes import list_recipes, load_recipe

BUDGET = 180.0  # seconds on 2 CPU cores
# the headline error of each kind of run, the first found in metrics.json
HEADLINE = ("trajectory_rel_l2", "test_rel_l2", "rel_l2", "velocity_rel_l2")
SECTION = "quick-recipes"


def _files(folder: str) -> set[str]:
    return {os.path.join(d, f) for d, _, names in os.walk(folder) for f in names}


def _kind(name: str) -> str:
    return load_recipe(name).kind


def run_one(name: str, cache: str, threads: int) -> dict:
    env = {**os.environ, "PDEKIT_DATA": cache, "OMP_NUM_THREADS": str(threads)}
    before = _files(cache)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pdekit", "run", name, "--quick", "--quiet", "--out", out],
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        metrics = {}
        if os.path.exists(os.path.join(out, "metrics.json")):
            metrics = json.load(open(os.path.join(out, "metrics.json")))
    key = next((k for k in HEADLINE if isinstance(metrics.get(k), (int, float))), None)
    row = {"recipe": name, "seconds": round(seconds, 1), "rc": done.returncode,
           "run": f"{time.strftime('%Y-%m-%d')}, {git_commit()}",
           "data": "none" if _kind(name) == "pinn" else "made" if _files(cache) - before else "cached",
           "metric": key, "value": metrics.get(key) if key else None}
    if done.returncode:
        row["error"] = (done.stderr.strip().splitlines() or ["?"])[-1][:200]
    return row


def table(rows: list[dict]) -> str:
    lines = ["| recipe (--quick) | wall time (s) | within 3 min | data | headline error | run (date, commit) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        error = f"{r['metric']} {r['value']:.3g}" if r.get("value") is not None else r.get("error", "-")
        within = "failed" if r["rc"] else "yes" if r["seconds"] <= BUDGET else "no"
        lines.append(f"| {r['recipe']} | {r['seconds']:.0f} | {within} | "
                     f"{r['data']} | {error} | {r.get('run', '-')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="these recipes only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--merge", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    names = [n for n, _ in list_recipes()]
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown recipes {unknown}; known: {', '.join(names)}")
        names = [n for n in names if n in args.only]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name in names:
            rows.append(run_one(name, cache, args.threads))
            print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.merge:
        old = read_section("docs/benchmarks.md", SECTION)
        kept = {}
        for line in old.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) in (5, 6) and cells[0] not in ("recipe (--quick)", "---") and cells[0] not in names:
                kept[cells[0]] = line if len(cells) == 6 else line.rstrip() + " before the date was recorded |"
        new = table(rows).splitlines()
        merged = new[:2] + sorted(new[2:] + list(kept.values()), key=lambda l: l.split("|")[1].strip())
        stamp = f"{machine()}" + (" (some rows from earlier runs: their last column)" if kept else "")
        replace_section("docs/benchmarks.md", SECTION,
                        "\n".join(merged) + f"\n\nMeasured with `python benchmarks/quick_recipes.py "
                        f"{' '.join(sys.argv[1:])}` on {stamp}.")


if __name__ == "__main__":
    main()
