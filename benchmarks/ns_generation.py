"""Where the time of Navier-Stokes generation goes, at ns_fno's settings, by batch size.

    python benchmarks/ns_generation.py [--device cuda] [--solve 256] [--batches 64 128 256 512]
                                       [--t-final 1] [--profile] [--out DIR]

ns_fno needs 1,200 trajectories solved on 256 x 256 to t = 50 (ETDRK4, dt = 5e-3, float64). This
solves the same first samples of seed 0 to a short horizon (--t-final) at each batch size, after
one untimed warm-up solve, and reports seconds per sample scaled to t = 50, the projected time
for 1,200 samples, peak memory, and whether the results are bitwise those of the smallest batch
(larger batches may only be used for the data if they are). With --profile, the largest batch's
kernels by total time (torch.profiler) are written to DIR/ns_profile.txt. Prints one JSON line
per batch size and writes DIR/ns_generation.json; nothing goes into the docs by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from _report import git_commit, machine

from pdekit.data.generate import draw_inputs
from pdekit.problems import get_problem

T_DATA, SAMPLES = 50.0, 1200  # ns_fno's horizon and its train + test trajectories


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _problem(solve: int, t_final: float):
    params = {"nu": 1e-3, "t_final": t_final, "nt": max(2, round(t_final) + 1), "solve_resolution": solve, "dt": 5e-3}
    return get_problem("navier_stokes_2d").from_params(64 if solve % 64 == 0 else solve, params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--solve", type=int, default=256, help="solve grid points per axis")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--t-final", type=float, default=1.0, help="horizon timed (scaled to t = 50)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args()
    device, batches = torch.device(args.device), sorted(args.batches)
    os.makedirs(args.out, exist_ok=True)
    problem = _problem(args.solve, args.t_final)
    inputs = draw_inputs(problem, 0, range(batches[-1]))["w0"]
    first = None
    rows = []
    for batch in batches:
        w0 = inputs[:batch].to(device)
        problem.solve({"w0": w0[:2]})  # warm-up: FFT plans, allocator
        _sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        out = problem.solve({"w0": w0})["vorticity"]
        _sync(device)
        seconds = time.perf_counter() - start
        head = out[: batches[0]].cpu()
        first = head if first is None else first
        per_sample = seconds / batch * T_DATA / args.t_final
        rows.append({"batch": batch, "seconds": seconds, "seconds_per_sample_t50": per_sample,
                     "projected_seconds_1200": per_sample * SAMPLES,
                     "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
                     "bitwise_as_smallest_batch": bool(torch.equal(head, first)),
                     "max_difference": float((head - first).abs().max())})
        print(json.dumps(rows[-1]), flush=True)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        short = _problem(args.solve, min(args.t_final, 0.1))
        with profile(activities=activities) as prof:
            short.solve({"w0": inputs[: batches[-1]].to(device)})
            _sync(device)
        key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        with open(os.path.join(args.out, "ns_profile.txt"), "w") as f:
            f.write(prof.key_averages().table(sort_by=key, row_limit=25))
    with open(os.path.join(args.out, "ns_generation.json"), "w") as f:
        json.dump({"rows": rows, "solve": args.solve, "t_final": args.t_final, "device": str(device),
                   "machine": machine(), "commit": git_commit()}, f, indent=1)


if __name__ == "__main__":
    main()
