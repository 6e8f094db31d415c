"""The ``pdekit`` command line. User errors print one message and exit with code 2."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import signal
import sys
import time

from pdekit import __version__
from pdekit.errors import PdekitError, recipe_keys

LAUNCHED = "PDEKIT_LAUNCHED"  # set by --nproc for the processes it starts under torchrun


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PdekitError(f"--set expects key=value, got '{pair}'")
        out[key.strip()] = value.strip()
    return out


def cmd_generate(args) -> int:
    """``pdekit generate``: solve a problem for ``args.n`` random inputs and store the samples in an HDF5 file.

    Resumes an interrupted run of the same command and does nothing when the file already holds this
    dataset (see ``pdekit.data.generate.generate``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    from pdekit.data import generate
    from pdekit.problems import get_problem

    from pdekit.paths import check_writable_file

    cls = get_problem(args.problem)
    resolution = cls.default_resolution if args.resolution is None else args.resolution
    problem = cls.from_params(resolution, _parse_sets(args.set))
    check_writable_file(args.out, hdf5=True)
    start = time.perf_counter()
    shard = _shard(args.shard)
    status = generate(problem, args.n, args.seed, args.out, batch_size=args.batch_size,
                      device=args.device, quiet=args.quiet, first=args.first, shard=shard)
    if status == "shard done":
        print(f"shard {shard[0]}/{shard[1]} of {args.out} finished; the last shard to finish writes the file")
    elif status == "exists":
        print(f"{args.out} already holds this dataset; nothing to do")
    elif not args.quiet:
        verb = "finished (resumed)" if status == "resumed" else "wrote"
        print(f"{verb} {args.out}: {args.n} samples of {problem.name} at resolution {resolution} "
              f"in {time.perf_counter() - start:.1f} s")
    return 0


def _shard(text: str | None) -> tuple[int, int]:
    """--shard K/N, or under torchrun its rank and world size, or (0, 1)."""
    if text is None:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    k, sep, n = text.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit()):
        raise PdekitError(f"--shard must be K/N (this process's shard K of N, counted from 0), got '{text}'")
    return int(k), int(n)


def cmd_list(args) -> int:
    """``pdekit list``: print the registered problems, models and shipped recipes (``args.what``: all,
    problems, models or recipes).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    if args.what in ("all", "problems"):
        from pdekit.problems import PROBLEMS

        for kind, title in (("grid", "problems with a solver (pdekit generate, operator recipes' data.problem):"),
                            ("pinn", "physics-informed problems (problem.name of pinn recipes):")):
            print(title)
            for name in sorted(n for n, cls in PROBLEMS.items() if cls.kind == kind):
                print(f"  {name:<24}  {PROBLEMS[name].summary}")
    if args.what in ("all", "models"):
        from pdekit.models import describe_models

        print("models (parameters of the default config):")
        rows = describe_models()
        width = max(len(name) for name, *_ in rows)
        for name, summary, params, shape in rows:
            print(f"  {name:<{width}}  {params:>9,}  ({shape})  {summary}")
    if args.what in ("all", "recipes"):
        from pdekit.recipes import list_recipes

        print("recipes (pdekit run NAME [--quick]; pdekit show NAME for the whole description):")
        rows = list_recipes()
        width = max(len(name) for name, _ in rows)
        for name, description in rows:  # its first 100 characters: the rest is in `pdekit show`
            cut = description if len(description) <= 100 else description[:97].rsplit(" ", 1)[0] + " ..."
            print(f"  {name:<{width}}  {cut}")
    return 0


def _table(title: str, rows: list[tuple[str, str]], run_dir: str | None, after: str = "") -> None:
    """Print a run's summary: a title, aligned rows, an optional sentence, where the report is."""
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if after:
        print(after)
    if run_dir:
        print(f"report: {os.path.join(run_dir, 'report.md')}")


def _print_summary(results: dict, run_dir: str) -> None:
    """Print the headline metrics of a run (operator, PINN or rollout) and where its report is."""
    from pdekit.eval.report import optional_figure

    bound = results.get("speedup_is") == "an upper bound"
    alone = " (only the data's solver setting timed)" if bound and len(results.get("solver_ladder") or ()) == 1 else ""
    speedup = ("speed-up at equal accuracy", optional_figure(results.get("speedup"), ".3g", "at most " if bound else "",
                                                             "x" + alone))
    if "trajectory_rel_l2" in results:  # a rollout run
        corr = results["correlation_time"]
        stable = "yes" if results.get("stable") else f"no (step {results.get('blow_up_step')})"
        rows = [("trajectory relative L2", f"{results['trajectory_rel_l2']:.4g}"),
                ("relative L2, first / last step", f"{results['rollout_rel_l2'][0]:.4g} / {results['final_rel_l2']:.4g}"),
                ("steps rolled out", str(len(results["rollout_rel_l2"]))),
                ("correlation time", "beyond the rollout" if corr is None else f"{corr:g}"),
                ("stable at 10x the horizon", stable), ("train seconds", f"{results['train_seconds']:.1f}")]
        if "learned_stencil" in results:  # what a stencil network learned: the recipe's point
            from pdekit.eval.rollout_report import format_value

            rows.append(("learned stencil (u_t per offset)", format_value(results["learned_stencil"])))
        verdict = results.get("speed_verdict") or ""  # (none where eval.solver_ladder is off)
        _table(f"{results['recipe']} ({results['device']})", rows + ([speedup] if verdict else []), run_dir,
               verdict.replace("per sample", "per trajectory"))
    elif "stop_reason" in results:  # a PINN run
        rows = [("relative L2 vs reference", f"{results['test_rel_l2']:.4g}"),
                ("max error", f"{results['max_error']:.4g}"),
                ("train seconds", f"{results['train_seconds']:.1f}"), ("steps", str(results["steps"])),
                ("stopped", results["stop_reason"])]
        rows += [(k, f"{v:.6g}") for k, v in results.items() if k in ("nu", "nu_rel_error")]
        _table(results["recipe"], rows, run_dir)
    else:
        rows = [
            ("test relative L2 (mean)", f"{results['test_rel_l2']:.4g}"),
            ("test relative L2 (median)", f"{results['median_rel_l2']:.4g}"),
            ("nRMSE", f"{results['nrmse']:.4g}"),
            ("parameters", f"{results['params']:,}"),
            ("train seconds", f"{results['train_seconds']:.1f}"),
            ("model s/sample", f"{results['model_seconds_per_sample']:.3g}"),
            ("solver s/sample (data setting)", optional_figure(results["solver_seconds_per_sample"], ".3g")),
            speedup,
        ]
        rows += [(f"rel. L2 at resolution {r}", f"{e:.4g}") for r, e in results["resolution_transfer"].items()]
        if results.get("held_out"):
            held = ", ".join(f"{k} = {v}" for k, v in results["held_out"]["params"].items())
            rows.append((f"held out ({held}) rel. L2", f"{results['held_out']['rel_l2']:.4g}"))
        _table(f"{results['recipe']} ({results['device']})", rows, run_dir, results["speed_verdict"])


def cmd_run(args) -> int:
    """``pdekit run``: load a recipe (quick variant and overrides applied), generate its data, train,
    evaluate and write the run folder (default runs/<name>), then print a summary.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    from pdekit.pipeline import default_run_dir, run_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe(args.recipe, quick=args.quick, overrides=args.overrides)
    run_dir = args.out or default_run_dir(recipe, args.overrides)
    results = run_recipe(recipe, run_dir, quiet=args.quiet)
    if results:  # under torchrun only the first process has them
        _print_summary(results, run_dir)
    return 0


def cmd_train(args) -> int:
    """``pdekit train``: generate a recipe's data and train it; an operator run prints where its
    checkpoint is, a PINN run (trained and evaluated in one step) prints its summary.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    from pdekit.pipeline import RUNNERS, default_run_dir
    from pdekit.recipes import load_recipe

    recipe = load_recipe(args.config, quick=args.quick, overrides=args.overrides)
    run_dir = args.out or default_run_dir(recipe, args.overrides)
    done = RUNNERS[recipe.kind].train(recipe, run_dir, quiet=args.quiet)
    if int(os.environ.get("RANK", 0)) > 0:  # under torchrun the first process reports
        return 0
    if isinstance(done, dict):  # a PINN run: training and evaluation are one step
        _print_summary(done, run_dir)
    else:
        print(done)
    return 0


def cmd_eval(args) -> int:
    """``pdekit eval``: evaluate a run folder on its own test split or on ``args.data`` and print a
    summary; writes only the ``--json`` file and the ``--report`` folder, when given.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    from pdekit.pipeline import evaluate_run

    results = evaluate_run(args.run_dir, args.data, args.json, args.report, args.device, args.overrides, args.quiet)
    _print_summary(results, args.report)
    return 0


def cmd_invert(args) -> int:
    """``pdekit invert``: recover test inputs of an operator run from noisy, partial observations
    of their outputs through its network (``pipeline.invert_run``), print a summary, return 0."""
    from pdekit.pipeline import invert_run

    r = invert_run(args.run_dir, args.out, args.samples, args.noise, args.observed, args.steps,
                   tuple(v for pair in args.bounds for v in pair) if args.bounds else None, args.recover, args.device,
                   args.quiet, args.observed_from)
    held = f"; channels {r['held_channels']} held at their true values" if r["held_channels"] else ""
    times = f" (stored times from index {r['observed_from']} on)" if r["observed_from"] else ""
    print(f"recovered input channels {r['channels']} of {r['samples']} test samples of {r['recipe']} from "
          f"{r['observed_fraction']:.3g} of the output points{times} with noise {r['noise']:g} x each channel's "
          f"standard deviation{held}")
    print(f"  smoothness {r['smoothness']:g}, chosen on {r['validation_samples']} validation samples; input relative "
          f"L2 {r['input_rel_l2']:.4g} (median {r['median_input_rel_l2']:.4g}), in {r['seconds']:.1f} s "
          f"({r['total_seconds']:.1f} s with the choice of the smoothness)")
    if "smoothness_note" in r:
        print(f"  note: {r['smoothness_note']}")
    overfit = " (below it: the inputs fit the noise)" if r["surrogate_misfit"] < 0.5 * r["observation_noise"] else ""
    print(f"  the network's outputs for them: relative L2 {r['surrogate_misfit']:.4g} against the observations at the "
          f"observed points, whose own noise is {r['observation_noise']:.4g}{overfit}; "
          f"{r['surrogate_output_rel_l2']:.4g} against the true outputs everywhere")
    if "solver_output_rel_l2" in r:
        print(f"  the solver's outputs for them: relative L2 {r['solver_output_rel_l2']:.4g} against the true outputs "
              f"(for the true inputs on the same grid: {r['solver_baseline_rel_l2']:.4g})")
        if "solver_note" in r:
            print(f"  note: {r['solver_note']}")
    else:
        print(f"  no solver check: {r['solver_check']}")
    files = "inverse.json, inverse.npz" + (", inverse.png" if r["plot"] else "; no plot of 3D data")
    print(f"  written to {args.out or os.path.join(args.run_dir, 'inverse')} ({files})")
    return 0


def cmd_convert(args) -> int:
    """``pdekit convert``: copy an HDF5 file in any layout pdekit reads to pdekit's schema or a PDEBench
    layout (``args.layout``), refusing an output that exists, and print what was converted.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    from pdekit.data.formats import convert
    from pdekit.paths import check_writable_file

    check_writable_file(args.output, hdf5=True)
    if os.path.exists(args.output):
        raise PdekitError(f"'{args.output}' exists; choose another output or delete it")
    source = convert(args.input, args.output, args.layout)
    kind = "time-dependent" if source.time_dependent else "steady"
    print(f"{args.input} ({source.layout}, {source.n} samples, {kind}, grid {' x '.join(map(str, source.space))}, "
          f"fields {', '.join(source.fields)}{', inputs ' + ', '.join(source.inputs) if source.inputs else ''}) "
          f"-> {args.output} ({args.layout})")
    return 0


def cmd_show(args) -> int:
    """``pdekit show``: print a problem's summary, grid, stored arrays and parameters; a model's
    options with their defaults and help; a shipped recipe's YAML, or a user's recipe file as it is
    read (defaults filled in); or what a data file holds (``_show_file``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of the subcommand (see ``build_parser``).

    Returns
    -------
    int
        The exit status, 0.
    """
    import h5py

    from pdekit.models import MODELS
    from pdekit.paths import HDF5_SUFFIXES
    from pdekit.problems import PROBLEMS
    from pdekit.recipes import list_recipes, shipped_recipe_text

    name = args.name
    if os.path.isfile(name) and h5py.is_hdf5(name):  # a data file (a shipped name wins only where no such file exists)
        _show_file(name)
    elif os.path.isfile(name) and os.path.splitext(name)[1].lower() in HDF5_SUFFIXES:
        raise PdekitError(f"'{name}' is named as an HDF5 file but is not one (empty, or another format)")
    elif os.path.isfile(name) and os.path.splitext(name)[1].lower() in (".yaml", ".yml"):  # a user's recipe
        import yaml

        from pdekit.recipes import load_recipe

        with recipe_keys():
            recipe = load_recipe(name)
        print(f"# {name} as pdekit reads it, the defaults of every section filled in (the model's options: "
              f"pdekit show {recipe.model['name']}); pdekit run {name}")
        print(yaml.safe_dump(recipe.raw, sort_keys=False), end="")
    elif name in PROBLEMS:
        _show_problem(PROBLEMS[name])
    elif name in MODELS:
        _show_model(MODELS[name])
    elif shipped_recipe_text(name) is not None:
        print(f"# the shipped recipe {name}: pdekit run {name} [--quick] [key=value ...]; copy it to change it")
        print(shipped_recipe_text(name), end="")
    else:
        known = [*PROBLEMS, *MODELS, *(r[0] for r in list_recipes())]
        hint = difflib.get_close_matches(name, known, n=1)
        also = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise PdekitError(f"'{name}' is no problem, model, recipe or file{also}; see `pdekit list`")
    return 0


def _show_file(path: str) -> None:
    """What a data file holds, as pdekit reads it (any layout): samples, grid, stored times,
    the channels a model predicts and reads, per-sample parameters, metadata; and how to train on it."""
    import numpy as np

    from pdekit.data.formats import file_grid, open_source, reading

    f, source = open_source(path)
    with f, reading(path):
        params = {k: read(0, source.n, None) for k, read in source.params.items()}
    cfg = source.attrs.get("config") or {}
    what = f"made by pdekit: {source.problem}" if source.problem else (
        f"converted from {cfg['source']['layout']}" if source.layout == "pdekit" and cfg.get("source") else source.layout)
    name = source.attrs.get("dataset_name")
    print(f"{path}: {what}{f' ({name})' if name else ''}; {source.n} samples, "
          f"{'time-dependent' if source.time_dependent else 'steady'}")
    axes = [a for a in source.coords if a != "t"]
    spans = ", ".join(f"{a}: {source.coords[a][0]:.4g} .. {source.coords[a][-1]:.4g}" for a in axes)
    grid = file_grid(path)
    # cell centres from 0 (x_0 = h / 2), as PDEBench stores its periodic data, read as nodes by default
    centred = grid == "nodes" and bool(axes) and all(
        len(c) > 1 and np.isclose(c[0], (c[1] - c[0]) / 2) for c in (source.coords[a] for a in axes))
    rows = [("grid", f"{' x '.join(map(str, source.space))}" + (f" ({spans})" if spans else "")
             + f", read as {grid} (data.grid: auto)"
             + ("; its points are cell centres (x_0 = half a spacing): if the data are periodic, say "
                "data.grid: periodic" if centred else ""))]
    if source.time_dependent:
        t = np.asarray(source.coords.get("t", np.arange(source.nt)), dtype=np.float64)
        steps = np.diff(t)
        even = len(steps) and np.ptp(steps) <= 1e-3 * abs(steps.mean())
        rows.append(("times", f"{len(t)} stored, t = {t[0]:.4g} .. {t[-1]:.4g}"
                     + (f", step {steps.mean():.4g}" if even else ", unevenly spaced" if len(steps) else "")))
    rows.append(("fields", ", ".join(source.fields) + (" (the states a model predicts)" if source.time_dependent
                                                      else " (what a model predicts)")))
    if source.inputs:
        rows.append(("inputs", ", ".join(source.inputs) + (" (constant in time, read beside the state)"
                                                          if source.time_dependent else " (what a model reads)")))
    for k, v in params.items():
        rows.append(("per sample", f"{k}, {v.min():.4g} .. {v.max():.4g} (an input channel; a rollout's conditioning)"))
    if source.problem:
        rows.append(("made with", ", ".join(f"{k} = {v}" for k, v in
                                            [("seed", cfg.get("seed")), ("first", cfg.get("first")),
                                             ("resolution", cfg.get("resolution"))])
                     + f"; parameters {json.dumps(cfg.get('params', {}), sort_keys=True)}"))
    meta = {k: v for k, v in source.origin_attrs.items()
            if k in ("scalars", "boundary_conditions", "attributes", "scalars_not_read") and v}
    for k, v in meta.items():
        rows.append((k.replace("_", " "), json.dumps(v, sort_keys=True)))
    width = max(len(r[0]) for r in rows)
    for key, text in rows:
        print(f"  {key:<{width}}  {text}")
    rollout = "" if source.inputs else ", or a rollout recipe over every stored time"  # (refused with inputs)
    task = ("a map between two stored times (data.input_time, data.target_time) or a space-time trajectory "
            f"(data.trajectory){rollout}" if source.time_dependent else "a map from the inputs to the fields")
    print(f"train on it: a recipe's data section with file: {path} (the first n_train samples train, the next n_val "
          f"validate, then n_test test); {task}; docs/data-format.md")


def _show_model(cls) -> None:
    """A model's summary and its options (recipe keys model.<option>) with defaults and help."""
    from pdekit.models.registry import DATA_KEYS, model_options, option_help

    helps = {k: v.replace("``", "") for k, v in option_help(cls).items()}
    rows = [(k, v, helps.get(k, "")) for k, v in model_options(cls).items() if k not in DATA_KEYS]
    print(f"{cls.registry_name}: {cls.summary}")
    print("options (a recipe's model section, or model.KEY=VALUE overrides):")
    width = max(len(r[0]) for r in rows)
    for key, default, help_text in rows:
        print(f"  {key:<{width}}  default {default!r:<12}  {help_text}")


def _show_problem(cls) -> None:
    """A problem's summary, grid and stored arrays (problems with a solver), and its parameters."""
    from pdekit.config import describe

    print(f"{cls.name}: {cls.summary}")
    if cls.kind == "pinn":
        print("parameters (the pinn recipe's problem section, or problem.KEY=VALUE overrides):")
    else:
        kind = "time-dependent" if cls.time_dependent else "steady"
        grid = "periodic points j/n" if cls.periodic else "nodes j/(n-1), boundary included"
        print(f"  {cls.ndim}D, {kind}, grid: {grid}; default --resolution {cls.default_resolution}")
        stored = [f"/inputs/{k}" for k in cls.inputs] + [f"/fields/{k}" for k in cls.fields]
        print(f"  stores: {', '.join(stored)}")
        for name, scale in cls.varying.items():
            print(f"  per sample: {name}, drawn {'log-' if scale == 'log' else ''}uniformly from [{name}, {name}_max] "
                  f"when {name}_max is set (stored as /params/{name})")
        print("parameters (--set key=value):")
    rows = describe(cls.Config)
    width = max(len(r[0]) for r in rows)
    for name, kind, default, help_text in rows:
        print(f"  {name:<{width}}  {kind:<5}  default {default!r:<12}  {help_text}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pdekit`` command line.

    Returns
    -------
    argparse.ArgumentParser
        One subparser per command (generate, list, run, train, eval, convert, show), each with its
        ``cmd_*`` function as the ``func`` default.
    """
    parser = argparse.ArgumentParser(prog="pdekit", description="Verified PDE data and neural surrogates.")
    parser.add_argument("--version", action="version", version=f"pdekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.set_defaults(commands=sub.choices)  # (each command's parser, for its own usage in errors)

    g = sub.add_parser("generate", help="solve a problem for n random inputs and store an HDF5 dataset")
    g.add_argument("problem", help="problem name (see `pdekit list`)")
    g.add_argument("--n", type=int, required=True, help="number of samples")
    g.add_argument("--resolution", type=int, default=None, help="points per dimension of the stored grid (default: the problem's)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="problem parameter")
    g.add_argument("--batch-size", type=int, default=32, help="samples solved together")
    g.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the solver runs")
    g.add_argument("--seed", type=int, required=True, help="dataset seed (sample i depends on seed and i)")
    g.add_argument("--first", type=int, default=0, help="index of the first sample (to add a test split)")
    g.add_argument("--shard", default=None, metavar="K/N", help="solve only shard K of N (N processes make one file; "
                   "the last to finish writes it); under torchrun: its rank and world size")
    g.add_argument("--out", required=True, help="output HDF5 file")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_generate)

    ls = sub.add_parser("list", help="list problems, models and recipes")
    ls.add_argument("what", nargs="?", default="all", choices=["all", "problems", "models", "recipes"])
    ls.set_defaults(func=cmd_list)

    for name, helptext, func, target in (
        ("run", "generate the data, train, evaluate and report a recipe", cmd_run, "recipe"),
        ("train", "generate the data and train a model from a recipe or YAML config", cmd_train, "config"),
    ):
        r = sub.add_parser(name, help=helptext)
        r.add_argument(target, help="a shipped recipe's name (pdekit list recipes) or a YAML file")
        r.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. model.hidden_channels=64")
        r.add_argument("--quick", action="store_true", help="the recipe's quick variant")
        r.add_argument("--out", default=None, help="run folder (default runs/<name>, runs/<name>-<hash of the overrides> with overrides)")
        r.add_argument("--quiet", action="store_true", help="no progress bars")
        r.add_argument("--nproc", type=int, default=1, metavar="N", help="train with N processes on this machine "
                       "(starts torchrun; one GPU each where there are GPUs)")
        r.set_defaults(func=func)

    e = sub.add_parser("eval", help="evaluate a trained run")
    e.add_argument("run_dir")
    e.add_argument("overrides", nargs="*", metavar="eval.KEY=VALUE",
                   help="evaluation settings over the run's own, e.g. eval.timing_rounds=9")
    e.add_argument("--data", default=None, help="an HDF5 file (pdekit, PDEBench or The Well layout) to evaluate on "
                                                 "(default: the run's test split)")
    e.add_argument("--json", default=None, help="write the metrics to this JSON file")
    e.add_argument("--report", default=None, metavar="DIR", help="write report.md and plots to this folder "
                                                                 "(the run's own record is never changed)")
    e.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="where the model runs and is timed against the solver (auto: CUDA where available)")
    e.add_argument("--quiet", action="store_true",
                   help="no progress bars (as while test data missing from the cache is solved)")
    e.set_defaults(func=cmd_eval)

    v = sub.add_parser("invert", help="recover an operator run's test inputs (a trajectory run's initial states) "
                                      "from noisy, partial observations of their outputs")
    v.add_argument("run_dir")
    v.add_argument("--out", default=None, metavar="DIR", help="where to write (default: RUN_DIR/inverse)")
    v.add_argument("--samples", type=int, default=8, help="test samples to invert, and validation samples that "
                                                         "choose the smoothness")
    v.add_argument("--noise", type=float, default=0.01, help="observation noise, relative to each sample's "
                                                            "standard deviation")
    v.add_argument("--observed", type=float, default=0.25, help="fraction of the output points observed")
    v.add_argument("--observed-from", type=int, default=0, metavar="K",
                   help="a trajectory run: observe its stored times from index K on (default 0: every time, the "
                        "initial state included; K above the run's data.input_time: the state recovered is not "
                        "observed itself)")
    v.add_argument("--steps", type=int, default=300, help="L-BFGS iterations at most")
    v.add_argument("--bounds", type=float, nargs=2, action="append", default=None, metavar=("LOW", "HIGH"),
                   help="a box the recovered inputs are known to lie in (the data's units): once for every "
                        "recovered channel, or once per recovered channel, in the order --recover names them")
    v.add_argument("--recover", type=int, nargs="+", default=None, metavar="C",
                   help="input channels to recover (default: those that vary in space); the others are held at "
                        "their true values")
    v.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="where the network and the solver check run")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(func=cmd_invert)

    c = sub.add_parser("convert", help="copy a PDEBench, The Well or pdekit file into pdekit's schema or a PDEBench layout")
    c.add_argument("input", help="HDF5 file in any layout pdekit reads")
    c.add_argument("output", help="file to write (refused if it exists)")
    c.add_argument("--layout", default="pdekit", choices=["pdekit", "pdebench-tensor", "pdebench-variables",
                                                          "pdebench-seeds"], help="layout of the output")
    c.set_defaults(func=cmd_convert)

    sh = sub.add_parser("show", help="show a problem's parameters, a model's options, a recipe (shipped, or a YAML "
                                     "file with its defaults) or what a data file holds")
    sh.add_argument("name", help="a problem, model or recipe (pdekit list), a recipe's YAML file or an HDF5 data file")
    sh.set_defaults(func=cmd_show)
    return parser


def _torchrun(nproc: int, argv: list[str]) -> int:
    """Run this same command under ``torchrun --standalone --nproc_per_node nproc``; its exit status."""
    import subprocess

    if nproc < 1:
        print(f"pdekit: error: --nproc must be >= 1, got {nproc}", file=sys.stderr)
        return 2
    rest, skip = [], False  # the command without --nproc (each process is one of them already)
    for arg in argv:
        if skip or arg.startswith("--nproc="):
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        rest.append(arg)
    command = [sys.executable, "-m", "pdekit.torchrun", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "pdekit", *rest]
    child = subprocess.Popen(command, preexec_fn=_ended_with_parent(), env={**os.environ, LAUNCHED: "1"})
    # a terminated launcher (`timeout`, a job scheduler) ends the training too, rather than leaving it
    # writing into the run folder beside the next command's
    terminated = []
    signal.signal(signal.SIGTERM, lambda *_: (terminated.append(True), child.terminate()))
    try:
        code = child.wait()
        if terminated:
            print("pdekit: terminated; run the same command again to resume", file=sys.stderr)
            return 128 + signal.SIGTERM
        if code == 130:  # a process was interrupted on its own (`kill PID`), and said nothing: it is said here
            print("pdekit: a process was interrupted; run the same command again to resume", file=sys.stderr)
        return code
    except KeyboardInterrupt:  # (from a terminal torchrun got SIGINT too, and passes it on to the processes)
        child.terminate()
        while child.poll() is None:  # a second Ctrl-C while torchrun shuts down is not a traceback
            try:
                child.wait()
            except KeyboardInterrupt:
                pass
        print("pdekit: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _interrupt_once() -> None:
    """In a process under torchrun: Ctrl-C (SIGINT) and torchrun's shutdown (SIGTERM) raise
    KeyboardInterrupt once, so the run folder is tidied as without torchrun (a first checkpoint
    not yet written takes the new recipe.json back); the signals that follow, from the terminal
    and again from torchrun, are ignored rather than raised inside that tidying."""
    def ignore(signum, frame):  # (not SIG_IGN: a signal pending while the handler changes to it raises
        pass  # OSError "Signal 15 ignored due to race condition" at the next bytecode, a traceback)

    def interrupt(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, ignore)
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)


def _ended_with_parent():
    """For the torchrun child, run between fork and exec: receive SIGTERM when the launcher dies,
    even by SIGKILL (Linux's PR_SET_PDEATHSIG; elsewhere None: a killed launcher leaves the
    training running). prctl is looked up here, in the parent: no library loading after the fork."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _check_before_processes(args) -> None:
    """What every process would refuse, refused once before torchrun starts them: the recipe, its
    device, the run folder and a global batch too small for the processes."""
    from pdekit.pipeline import default_run_dir, prepare_run_dir
    from pdekit.recipes import KINDS, load_recipe
    from pdekit.train.trainer import check_processes, resolve_device

    recipe = load_recipe(getattr(args, "recipe", None) or args.config, quick=args.quick, overrides=args.overrides)
    resolve_device(recipe.train.device)
    prepare_run_dir(args.out or default_run_dir(recipe, args.overrides), recipe, args.nproc)
    check_processes(KINDS[recipe.kind].task, recipe.train, args.nproc)
    if recipe.kind == "operator" and recipe.data.n_train < args.nproc:  # (each process skips a batch short of them)
        raise PdekitError(f"data.n_train = {recipe.data.n_train} gives no sample to some of the {args.nproc} "
                          f"processes: give at least {args.nproc} training samples")


def main(argv: list[str] | None = None) -> int:
    """Run the ``pdekit`` command line (the console script's entry point).

    ``key=value`` overrides of ``run`` and ``train`` may also follow the options.

    Parameters
    ----------
    argv : list of str or None
        The arguments after the program name (None: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: the command's own (0), 2 for a user error (a PdekitError or a file system
        refusal, printed as one line on stderr) or 130 when interrupted with Ctrl-C.
    """
    parser = build_parser()
    # key=value overrides may also follow options (`run R --out D model.hidden_channels=64`), which argparse
    # alone does not collect into the positional list
    args, extra = parser.parse_known_args(argv)
    if extra:
        options = [e for e in extra if e.startswith("-")]
        if getattr(args, "overrides", None) is None or options:  # (a KEY=VALUE's own check says what it lacks)
            command = args.commands[args.command]
            known = [o for action in command._actions for o in action.option_strings]
            close = difflib.get_close_matches((options or extra)[0].split("=")[0], known, n=1)
            hint = (" (the device is a recipe key: train.device=cuda)" if any(e.split("=")[0] == "--device" for e in extra)
                    else f" (did you mean {close[0]}?)" if close else "")
            command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        args.overrides += extra
    if getattr(args, "nproc", 1) != 1 and "WORLD_SIZE" not in os.environ:
        try:
            with recipe_keys():
                _check_before_processes(args)
        except (PdekitError, OSError) as exc:  # (one line, as without --nproc)
            print(f"pdekit: error: {exc}", file=sys.stderr)
            return 2
        return _torchrun(args.nproc, sys.argv[1:] if argv is None else argv)
    rank = int(os.environ.get("RANK", 0))  # (under torchrun a refusal may come from one process only)
    handlers = {}  # the caller's, where they are changed
    if "WORLD_SIZE" in os.environ:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        _interrupt_once()
    try:
        if args.func in (cmd_run, cmd_train, cmd_eval):  # a recipe's problem parameters are data.params.<key>
            with recipe_keys():
                return args.func(args)
        return args.func(args)
    except PdekitError as exc:
        print(f"pdekit: error{f' (process {rank})' if rank else ''}: {exc}", file=sys.stderr, flush=True)
        return 2
    except BrokenPipeError:  # the reader closed the pipe (`pdekit list models | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file system refusal (full disk, permissions) is the user's to fix: one line
        print(f"pdekit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if rank == 0 and LAUNCHED not in os.environ:  # (--nproc's launcher says it once for all)
            print("pdekit: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:  # (main called from Python: the caller's handlers back)
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
