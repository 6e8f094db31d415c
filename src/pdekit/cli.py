"""The ``pdekit`` command line. User errors print one message and exit with code 2."""

from __future__ import annotations

import argparse
import sys
import time

from pdekit.errors import PdekitError


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PdekitError(f"--set expects key=value, got '{pair}'")
        out[key.strip()] = value.strip()
    return out


def cmd_generate(args) -> int:
    from pdekit.data import generate
    from pdekit.problems import get_problem

    cls = get_problem(args.problem)
    resolution = args.resolution or cls.default_resolution
    problem = cls.from_params(resolution, _parse_sets(args.set))
    start = time.perf_counter()
    status = generate(problem, args.n, args.seed, args.out, batch_size=args.batch_size,
                      device=args.device, quiet=args.quiet)
    if status == "exists":
        print(f"{args.out} already holds this dataset; nothing to do")
    elif not args.quiet:
        verb = "finished (resumed)" if status == "resumed" else "wrote"
        print(f"{verb} {args.out}: {args.n} samples of {problem.name} at resolution {resolution} "
              f"in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_list(args) -> int:
    from pdekit.problems import PROBLEMS

    print("problems:")
    width = max(map(len, PROBLEMS))
    for name in sorted(PROBLEMS):
        print(f"  {name:<{width}}  {PROBLEMS[name].summary}")
    return 0


def cmd_show(args) -> int:
    from pdekit.config import describe
    from pdekit.problems import get_problem

    cls = get_problem(args.problem)
    print(f"{cls.name}: {cls.summary}")
    kind = "time-dependent" if cls.time_dependent else "steady"
    grid = "periodic points j/n" if cls.periodic else "nodes j/(n-1), boundary included"
    print(f"  {cls.ndim}D, {kind}, grid: {grid}; default --resolution {cls.default_resolution}")
    stored = [f"/inputs/{k}" for k in cls.inputs] + [f"/fields/{k}" for k in cls.fields]
    print(f"  stores: {', '.join(stored)}")
    print("parameters (--set key=value):")
    rows = describe(cls.Config)
    width = max(len(r[0]) for r in rows)
    for name, kind, default, help_text in rows:
        print(f"  {name:<{width}}  {kind:<5}  default {default!r:<12}  {help_text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdekit", description="Verified PDE data and neural surrogates.")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="solve a problem for n random inputs and store an HDF5 dataset")
    g.add_argument("problem", help="problem name (see `pdekit list`)")
    g.add_argument("--n", type=int, required=True, help="number of samples")
    g.add_argument("--resolution", type=int, default=0, help="points per dimension of the stored grid")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="problem parameter")
    g.add_argument("--batch-size", type=int, default=32, help="samples solved together")
    g.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the solver runs")
    g.add_argument("--seed", type=int, required=True, help="dataset seed (sample i depends on seed and i)")
    g.add_argument("--out", required=True, help="output HDF5 file")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_generate)

    ls = sub.add_parser("list", help="list the problems")
    ls.set_defaults(func=cmd_list)

    sh = sub.add_parser("show", help="show a problem's parameters and defaults")
    sh.add_argument("problem")
    sh.set_defaults(func=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PdekitError as exc:
        print(f"pdekit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pdekit: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
