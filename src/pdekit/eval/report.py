"""report.md and PNG plots of a run: a verdict first, then the setup it ran, the metrics with
their meaning, loss curves, predictions, error by frequency, error against resolution, and the
speed-accuracy comparison with the solver."""

from __future__ import annotations

import math
import os

import numpy as np

from pdekit.eval import metrics
from pdekit.eval.evaluate import setting_name

# what each metric in the report means (formulas in docs/metrics.md)
GLOSSARY = {
    "test_rel_l2": ("relative L2 (mean)", "per sample ‖prediction - truth‖ / ‖truth‖ over the grid, averaged "
                                          "over test samples (the FNO papers' metric)"),
    "median_rel_l2": ("relative L2 (median)", "the median of the same per-sample errors"),
    "rmse": ("RMSE", "root mean square error over all test points and samples, in the field's units"),
    "nrmse": ("nRMSE", "per sample and channel, RMSE / RMS of the truth, averaged (PDEBench's nRMSE)"),
    "max_error": ("max error", "largest absolute error at any point of any test sample"),
    "frmse_low": ("fRMSE low", "RMSE of the error's Fourier modes with |k| < 4 (large scales)"),
    "frmse_mid": ("fRMSE mid", "RMSE of the error's Fourier modes with 4 <= |k| < 12"),
    "frmse_high": ("fRMSE high", "RMSE of the error's Fourier modes with |k| >= 12 (small scales); the three "
                                 "squared add up to RMSE squared"),
    "val_rel_l2": ("validation relative L2", "the same error on the validation split, which chose the weights "
                                             "and settings; the test split was scored once, at the end"),
}
TRANSFER_TOLERANCE = 1.5  # transfer "holds" while the error stays within this factor of the trained one


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str, outside: bool = False) -> None:
    """Lay out and write ``fig`` (closed by the caller). ``outside``: a legend lies outside the
    axes, so the image is cropped to what is drawn (a third drawing of the figure: the saves are
    most of a small run's report time). No axis writes an offset ("1e-8+1e-2" above a nearly
    constant error's axis, over the panel's title): its ticks carry the digits instead."""
    from matplotlib.ticker import ScalarFormatter

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if isinstance(axis.get_major_formatter(), ScalarFormatter):
                axis.get_major_formatter().set_useOffset(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight" if outside else None)


def _label(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def _loss_curves(plt, history, path):
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    epochs = [h["epoch"] for h in history]
    marker = "o" if len(epochs) <= 30 else None
    ax.semilogy(epochs, [h["train_loss"] for h in history], marker=marker, ms=3, label="training loss")
    key, name = ("val_rel_l2", "validation") if "val_rel_l2" in history[0] else ("test_rel_l2", "test (an older run)")
    ax.semilogy(epochs, [h[key] for h in history], marker=marker, ms=3, label=f"{name} relative L2")
    lbfgs = [h["epoch"] for h in history if h.get("phase") == "lbfgs"]
    if lbfgs:  # the rows count Adam epochs, then L-BFGS iterations
        ax.axvline(lbfgs[0] - 0.5, color="0.5", lw=0.8, ls="--", label="Adam -> L-BFGS")
    _label(ax, "Adam epoch, then L-BFGS iteration" if lbfgs else "epoch", "loss / error (log scale)", "training curves")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    _save(fig, path)
    return fig


def _predictions(plt, x, y, pred, count, path, trajectory: bool = False, extent=None, names=("input", "output")):
    """Per sample: the input, truth and prediction (overlaid in 1D, side by side in 2D), the error;
    a trajectory (t, x[, y]) is shown as time across and x up (at the middle y in 2D). ``extent``
    (x0, x1, y0, y1): a 2D domain's physical bounds (default the unit square); a domain more than
    twice as long as high gets its panels stacked, drawn to scale. ``names``: of the first input
    and output channels, the ones drawn."""
    count = min(count, len(y))
    ndim = y.ndim - 2
    columns = 3 if ndim == 1 else 4
    wide = extent is not None and ndim == 2 and (extent[1] - extent[0]) > 2 * (extent[3] - extent[2])
    if wide:
        ratio = (extent[1] - extent[0]) / (extent[3] - extent[2])
        fig, stacked = plt.subplots(count * columns, 1, figsize=(10, (8.5 / ratio + 0.9) * count * columns))
        axes = np.asarray(stacked).reshape(count, columns)
    else:
        fig, axes = plt.subplots(count, columns, figsize=(3.8 * columns, 2.9 * count), squeeze=False)
    for i in range(count):
        inp, truth, guess = x[i, 0].numpy(), y[i, 0].numpy(), pred[i, 0].numpy()
        source = ("input" if names[0] == "input" else f"input {names[0]}") + (f" (constant {inp.flat[0]:.3g})" if np.ptp(inp) == 0 else "")
        if ndim == 1:
            grid = np.arange(truth.shape[-1]) / truth.shape[-1]
            (f0, n0), (f1, n1), (f2, n2) = _scale(inp), _scale(truth, guess), _scale(guess - truth)
            axes[i, 0].plot(np.arange(inp.shape[-1]) / inp.shape[-1], inp / f0, color="0.4", lw=1)
            axes[i, 1].plot(grid, truth / f1, lw=2, label="truth")
            axes[i, 1].plot(grid, guess / f1, "--", lw=1.2, label="prediction")
            axes[i, 1].legend(fontsize=7)
            axes[i, 2].plot(grid, (guess - truth) / f2, lw=1, color="tab:red")
            titles = (source, f"{names[1]}: truth and prediction", f"{names[1]}: error (prediction - truth)")
            for j, label in enumerate((f"input value{n0}", f"output value{n1}", f"error{n2}")):
                axes[i, j].set_xlabel("x (fraction of the domain)")
                axes[i, j].set_ylabel(label)
        else:
            (f0, n0), (f1, n1), (f2, n2) = _scale(inp), _scale(truth, guess), _scale(guess - truth)
            inp, truth, guess, error = inp / f0, truth / f1, guess / f1, (guess - truth) / f2
            panels = (inp, truth, guess, error)
            titles = (source + n0, f"{names[1]}: truth{n1}", f"{names[1]}: prediction{n1}",
                      f"{names[1]}: error (prediction - truth){n2}")
            # truth and prediction on one colour scale; the error's centred on zero (white: no error)
            shared = _finite_range(truth, guess)
            worst = (_finite_range(np.abs(error)) or (0.0, 0.0))[1]
            scales = (None, shared, shared, (-worst, worst) if worst > 0 else None)
            for j, data in enumerate(panels):
                data = data if ndim == 2 else data[..., data.shape[-1] // 2]  # 3D: the middle of the last axis
                low, high = scales[j] or (None, None)
                image = axes[i, j].imshow(data.T, origin="lower", extent=extent if wide else (0, 1, 0, 1),
                                          aspect="equal" if wide else "auto", cmap="RdBu_r" if j == 3 else "viridis",
                                          vmin=low, vmax=high)
                fig.colorbar(image, ax=axes[i, j], fraction=0.046 if not wide else 0.015, pad=0.01)
                if not wide:
                    axes[i, j].set_xticks([0, 0.5, 1])
                    axes[i, j].set_yticks([0, 0.5, 1])
                axes[i, j].set_xlabel("t (fraction of the predicted times)" if trajectory else "x")
                axes[i, j].set_ylabel(("x" + (" (at the middle y)" if ndim == 3 else "")) if trajectory else "y")
        for j, title in enumerate(titles):
            axes[i, j].set_title(f"test sample {i}: {title}", fontsize=9)
    _save(fig, path)
    return fig


def _scale(*arrays) -> tuple[float, str]:
    """A power of ten to divide ``arrays`` by, and the label's note of it (" (× 1e-05)"), where their
    largest magnitude is below 1e-3 or from 1e4 up (matplotlib would print the power above the axis
    or colour bar, over the panel's title); (1.0, "") otherwise."""
    top = (_finite_range(*[np.abs(a) for a in arrays]) or (0.0, 0.0))[1]
    power = int(np.floor(np.log10(top))) if top > 0 else 0
    return (1.0, "") if -3 <= power < 4 else (10.0**power, f" (× 1e{power:+03d})")


def _finite_range(*arrays) -> tuple[float, float] | None:
    """(min, max) over the finite values of ``arrays``, or None where there are none."""
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if len(values) else None


def trained_by(processes) -> str:
    """" by 2 processes" (or " by 2 processes, then 1 process" for a run resumed by another count)
    for a setup line; "" for one process or an unrecorded count."""
    if not processes or processes == [1]:
        return ""
    return " by " + ", then ".join(f"{n} process{'es' if n > 1 else ''}" for n in processes)


def cell(text) -> str:
    """``text`` for a markdown table cell: its pipes escaped (|k|, |u - u_ref|)."""
    return str(text).replace("|", "\\|")


def _problem(recipe):
    """The problem that generated the recipe's data, at its stored resolution; None for a file."""
    data = recipe.data
    if getattr(data, "file", None) or not getattr(data, "problem", None):
        return None
    return recipe.data_problem()  # (data.resolution 0: the problem's own)


def file_splits(d, test_note: str = "") -> str:
    """The splits of a user's data.file ``d`` as index ranges, "0 .. 69 train, 70 .. 79 validation;
    test: 80 .. 109" (or the first n_test of data.test_file, then ``test_note``)."""
    val_end = d.n_train + d.validation_count
    test = f"the first {d.n_test} of `{d.test_file}`{test_note}" if d.test_file else f"{val_end} .. {val_end + d.n_test - 1}"
    return f"0 .. {d.n_train - 1} train, {d.n_train} .. {val_end - 1} validation; test: {test}"


def _stored_times(problem, path: str):
    """The stored times of time-dependent data (the problem's, or a user's file's; 0, 1, ... where
    the file records none), None for steady data."""
    import numpy as np

    from pdekit.data.formats import open_source

    if problem is not None:
        return problem.times() if problem.time_dependent else None
    f, source = open_source(path)
    f.close()
    return np.asarray(source.coords.get("t", np.arange(source.nt))) if source.time_dependent else None


def _names(recipe) -> tuple[str, str]:
    """Names of the first input and output channels of a generated problem's task: its first stored
    input (or, time-dependent, its first field; or the first parameter drawn per sample, as the
    cavity's log Re) and its first field; a user's file's names for them (PDEBench's u, Vx or nu,
    The Well's fields)."""
    problem = _problem(recipe)
    if problem is None:
        return _file_names(recipe.data.file) if getattr(recipe.data, "file", None) else ("input", "output")
    if problem.time_dependent or problem.inputs:
        return (problem.fields[0] if problem.time_dependent else problem.inputs[0]), problem.fields[0]
    drawn = sorted(problem.sample_params)
    if not drawn:
        return "input", problem.fields[0]
    return ("log " if problem.varying[drawn[0]] == "log" else "") + drawn[0], problem.fields[0]


def _file_names(path) -> tuple[str, str]:
    """The first input and output channels' names in a data file, as load_task orders them: a
    time-dependent file's first field (both), else its first input or per-sample parameter."""
    from pdekit.data.formats import open_source
    from pdekit.problems import log_scaled

    f, source = open_source(path)
    with f:
        fields, inputs, params = list(source.fields), list(source.inputs), sorted(source.params)
    if source.time_dependent or inputs:
        return (fields[0] if source.time_dependent else inputs[0]), fields[0]
    return ("log " if log_scaled(source.problem, params[:1])[0] else "") + params[0], fields[0]


def _extent(recipe):
    """(x0, x1, y0, y1) of a generated 2D problem's stored grid, or None (files, other dimensions)."""
    problem = _problem(recipe)
    if problem is None or problem.ndim != 2:
        return None
    c = problem.coords()
    if "y" not in c:
        return None
    return float(c["x"][0]), float(c["x"][-1]), float(c["y"][0]), float(c["y"][-1])


def _frequency(plt, results, path):
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    labels = ["low\n|k| < 4", "mid\n4 <= |k| < 12", "high\n|k| >= 12"]
    ax.bar(labels, [results[f"frmse_{b}"] for b in metrics.BANDS], color="tab:blue")
    _label(ax, "wavenumber band of the error", "RMSE of the error in the band",
           "where the error lives in frequency")
    _save(fig, path)
    return fig


def _resolution(plt, results, path):
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    res = [results["resolution"]] + [int(r) for r in results["resolution_transfer"]]
    err = [results["test_rel_l2"]] + list(results["resolution_transfer"].values())
    ax.plot(res, err, "o-")
    ax.set_xscale("log", base=2)
    ax.set_xticks(res, [str(r) for r in res])
    ax.minorticks_off()
    finite = [e for e in err if math.isfinite(e)]
    if finite and max(finite) > 0:  # from zero, so a small relative change looks small (NaN, inf: not drawn)
        ax.set_ylim(0, 1.25 * max(finite))
    _label(ax, f"test resolution (trained at {results['resolution']})", "mean relative L2",
           "error against resolution")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return fig


def _speed(plt, results, path, unit: str = "sample"):
    from matplotlib.ticker import LogLocator

    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    ladder = results["solver_ladder"]
    if ladder:
        floor = 1e-9  # the data's own setting scores float32 rounding; nothing is drawn below this
        # points, not a line: the ladder goes back to a finer step on a coarser grid, and a line
        # through its order doubled back
        for i, r in enumerate(ladder):
            ax.loglog([r["seconds_per_sample"]], [max(r["rel_l2"], floor)], "s", color="tab:orange",
                      mfc="tab:orange" if i == 0 else "white", ms=8 if i == 0 else 6,
                      label=("solver at the data's setting" if i == 0 else
                             "solver at cheaper settings (each labelled)" if i == 1 else None))
            # the data's setting, slowest and most accurate, sits in the lower right corner: its label goes
            # above and to the left, inside the axes; the others alternate above and below (neighbours apart)
            ax.annotate(setting_name(r, short=True), (r["seconds_per_sample"], max(r["rel_l2"], floor)), fontsize=6,
                        xytext=(-6, 5) if i == 0 else (5, 3 if i % 2 else -8), textcoords="offset points",
                        ha="right" if i == 0 else "left", color="0.3")
        matched = results.get("matched_setting")
        if matched:
            ax.loglog([matched["seconds_per_sample"]], [max(matched["rel_l2"], floor)], "s", ms=11, mfc="none",
                      color="black", label="cheapest solver as accurate as the surrogate")
    ax.loglog([results["model_seconds_per_sample"]], [results["timed_rel_l2"]], "o", color="tab:blue", ms=9,
              label="surrogate")
    ax.axhline(results["timed_rel_l2"], color="tab:blue", ls=":", lw=1)
    solver = _solver_device(results)
    where = results["device"] if solver is None else f"surrogate on {results['device']}, solver on {solver}"
    _label(ax, f"seconds per {unit} ({where})", "relative L2 against the stored data",
           "speed and accuracy: lower left is better")
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))  # labelled at 2 and 5 of each decade: no overlap
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)  # (below: clear of the labels)
    ax.grid(alpha=0.3, which="both")
    _save(fig, path, outside=True)
    return fig


def optional_figure(value, spec: str, prefix: str = "", suffix: str = "") -> str:
    """A figure, or "n/a" pointing at the speed verdict printed below the table, which says why (no
    pdekit solver for foreign data, a solver that could not run, a surrogate more accurate than
    every setting)."""
    return "n/a (below)" if value is None else f"{prefix}{value:{spec}}{suffix}"


def verdict(results: dict) -> str:
    """Two or three sentences: accuracy on test, speed at matched accuracy, resolution transfer."""
    where = f"On '{results['data_file']}'" if results.get("data_file") else "On the test split"
    text = [f"{where} the surrogate's mean relative L2 error is {results['test_rel_l2']:.3g} "
            f"(median {results['median_rel_l2']:.3g}); validation scored {results['val_rel_l2']:.3g} with "
            f"the weights of epoch {results['weights_epoch']}."
            if results.get("val_rel_l2") is not None else
            f"{where} the surrogate's mean relative L2 error is {results['test_rel_l2']:.3g}."]
    text.append(results["speed_verdict"])
    transfer = results["resolution_transfer"]
    if transfer:
        listed = ", ".join(f"{e:.3g} at {r}" for r, e in transfer.items())
        # (every error finite and within: max() alone passed over a NaN unless it came first)
        holds = all(e <= TRANSFER_TOLERANCE * results["test_rel_l2"] for e in transfer.values())
        text.append(f"Resolution transfer {'holds' if holds else 'does not hold'}: the error is {listed}, "
                    f"against {results['test_rel_l2']:.3g} at the trained {results['resolution']} "
                    f"({'within' if holds else 'beyond'} {TRANSFER_TOLERANCE}x).")
    return " ".join(text)


def _setup(recipe, results, history=()) -> list[str]:
    d, t = recipe.data, recipe.train
    problem = _problem(recipe)
    shape = (f"{' x '.join(map(str, problem.grid_shape))} points" if problem is not None and problem.ndim > 1
             and len(set(problem.grid_shape)) > 1 else f"{results['resolution']} points per axis")
    source = f"`{d.file}`" if d.file else f"{d.problem}, {shape}" + (
        f" (solved on {d.params['solve_resolution']})" if "solve_resolution" in d.params else "")
    train = f"{d.n_train} train"
    fresh = [row["fresh_samples"] for row in history if "fresh_samples" in row]
    if d.source == "online" and fresh:  # n_train is an epoch's draws; the stream went on past the test indices
        train = f"{d.n_train} train per epoch, solved online ({int(fresh[-1])} fresh samples in all; under torchrun, the first process's)"
    if d.file:  # the file's own samples, in order (no seed: nothing is drawn)
        other = d.test_file_grid()
        ranges = "the file's samples " + file_splits(d, f", stored on {other} points (resolution transfer)" if other else "")
    else:
        ranges = f"disjoint index ranges of seed {d.seed}"
    task, times = "", _stored_times(problem, d.file)
    if times is not None:
        def at(index):
            return f"t = {times[index]:.4g} (stored time {index % len(times)})"

        task = (f"; the input at {at(d.input_time)}" if d.input_steps == 1 else
                f"; the inputs at {d.input_steps} times from {at(d.input_time)}") + (
            ", the target the whole trajectory" if d.trajectory and d.input_steps == 1 else
            ", the target the times after them" if d.trajectory else f", the target at {at(d.target_time)}")
    lines = [f"- data: {source}; samples {train} / {d.validation_count} validation / {d.n_test} test "
             f"({ranges}){task}; grid {d.resolved_grid()}" + (" (over space and time)" if d.trajectory else ""),
             f"- model: {recipe.model['name']} ({', '.join(f'{k}={v}' for k, v in recipe.model.items() if k != 'name')}), "
             f"{results['params']:,} parameters",
             f"- training: {t.epochs} epochs, batch {t.batch_size}, lr {t.lr:g}, {t.scheduler} schedule"
             + (", augmented by the problem's symmetries" if recipe.task.augment else "")
             + (f", weights of the best validation epoch ({results['weights_epoch']})" if t.keep_best else "")
             + f"; {results['train_seconds']:.1f} s of training{trained_by(results.get('train_processes'))}"]  # (results' device: the evaluation's, maybe another)
    return lines


def write_report(run_dir, recipe, trained, results, x_test, y_test, pred) -> None:
    """Write report.md and plots/ (loss curves, predictions, error by frequency, error against
    resolution, speed against accuracy) of an operator run.

    Parameters
    ----------
    run_dir : str
        The folder to write into (a run folder, or any folder for a later evaluation); created if
        missing.
    recipe : Recipe
        The operator recipe of the run.
    trained : TrainedModel
        The trained model (its ``history`` gives the loss curves).
    results : dict
        The metrics ``pdekit.eval.evaluate.evaluate`` returned.
    x_test, y_test, pred : torch.Tensor
        Test inputs, targets and predictions, (n, channels, *space), on the CPU.
    """
    plt = _pyplot()
    plots = os.path.join(run_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    if trained.history:
        _loss_curves(plt, trained.history, os.path.join(plots, "loss.png"))
    _predictions(plt, x_test, y_test, pred, recipe.eval.plot_samples, os.path.join(plots, "predictions.png"),
                 trajectory=getattr(recipe.data, "trajectory", False), extent=_extent(recipe), names=_names(recipe))
    _frequency(plt, results, os.path.join(plots, "frequency.png"))
    _resolution(plt, results, os.path.join(plots, "resolution.png"))
    _speed(plt, results, os.path.join(plots, "speed_accuracy.png"))
    plt.close("all")

    quick = recipe.name.endswith("-quick")
    notes = [f"Note: {note}." for note in results.get("data_notes", [])]  # what an evaluation file holds
    lines = [f"# {recipe.name}", "", verdict(results), *(["", *notes] if notes else []), "", "## Setup", "",
             (f"The quick variant of: {recipe.description}" if quick else recipe.description), "",
             *_setup(recipe, results, trained.history), "",
             "## Metrics", "", "| metric | value | meaning |", "|---|---|---|"]
    for key in ("test_rel_l2", "median_rel_l2", "rmse", "nrmse", "max_error", "frmse_low", "frmse_mid",
                "frmse_high", "val_rel_l2"):
        if results.get(key) is not None:
            name, meaning = GLOSSARY[key]
            lines.append(f"| {name} | {results[key]:.4g} | {cell(meaning)} |")
    if results.get("frmse_high") is not None and not _periodic(recipe):
        lines += ["", "The fRMSE bands treat the grid as periodic; this data's grid is not, so a smooth error that "
                  "differs between opposite edges also lands in the mid and high bands (read them as upper bounds)."]
    lines += ["", "Formulas: docs/metrics.md in the pdekit repository.", "",
              "![loss](plots/loss.png) ![predictions](plots/predictions.png)"]
    if results["resolution_transfer"]:
        lines += ["", "## Resolution transfer", "",
                  "The same test samples stored on finer grids, predicted by the same weights.", "",
                  "| resolution | mean relative L2 |", "|---|---|",
                  f"| {results['resolution']} (trained) | {results['test_rel_l2']:.4g} |"]
        lines += [f"| {r} | {e:.4g} |" for r, e in results["resolution_transfer"].items()]
    if results.get("held_out"):
        held = results["held_out"]
        setting = ", ".join(f"{k} = {v}" for k, v in held["params"].items())
        lines += ["", "## Held-out parameters", "",
                  f"Test samples made with {setting} (eval.held_out), which training never saw: mean relative L2 "
                  f"{held['rel_l2']:.4g} (median {held['median_rel_l2']:.4g}, nRMSE {held['nrmse']:.4g}), against "
                  f"{results['test_rel_l2']:.4g} on the test split."]
    lines += ["", ("![resolution](plots/resolution.png) " if results["resolution_transfer"] else "")
              + "![frequency](plots/frequency.png)", "", "## Speed against the solver", "", results["speed_verdict"]]
    if results["solver_ladder"] or results.get("solver_ladder_skipped"):
        lines += _solver_lines(recipe, results) + ["", "![speed](plots/speed_accuracy.png)", ""]
    else:  # no solver to time (a user's file)
        lines += ["", f"The surrogate takes {results['model_seconds_per_sample']:.4g} s per sample ("
                      f"{_rounds(recipe.eval.timing_rounds)} on {results['device']}; first call "
                      f"{results['model_first_call_seconds_per_sample']:.4g} s).", ""]
    with open(os.path.join(run_dir, "report.md"), "w") as fh:
        fh.write("\n".join(lines))


def _rounds(count: int) -> str:
    """How many timing rounds the medians come from; one round is no median, and says so."""
    return f"the median of {count} alternating rounds" if count > 1 else "a single round, no median (eval.timing_rounds = 1)"


def _periodic(recipe) -> bool:
    """Whether the data's grid is periodic (``DataSection.resolved_grid``: a periodic problem's
    generated data, a periodic file of The Well, or data.grid)."""
    return recipe.data.resolved_grid() == "periodic"


def _solver_device(results) -> str | None:
    """The solver's device where it is not the surrogate's (a solver that runs only on the CPU:
    NumPy, SciPy, finite elements), else None."""
    solver = results.get("solver_device")
    return solver if solver and solver != results["device"] else None


def _devices(results) -> str:
    """Where the timed calls ran: one device, or the surrogate's and the solver's."""
    solver = _solver_device(results)
    if solver is None:
        return results["device"]
    return f"{results['device']} (the surrogate) and {solver} (the solver, which runs only there)"


def _solver_lines(recipe, results) -> list[str]:
    """How the solver was timed, its ladder as a table, what was skipped and the data-setting ratio."""
    lines = ["", f"The solver ran on exactly the {results['timed_samples']} timed test inputs"
              + (" (started from the stored state the surrogate reads, later than the data run's own start, and "
                 "timed over the predicted times only)" if results.get("solver_from_stored_state") else "")
              + ", at the data's setting"
              + (" and at cheaper ones (larger time steps or looser iterative tolerances, coarser grids or meshes; "
                 "grids coarser than the stored one are interpolated to it, within the timed call), until one was less accurate than the "
                 "surrogate or none was left." if recipe.eval.solver_ladder else " only (eval.solver_ladder is off).")
              + " Seconds per sample come from "
              f"{_rounds(recipe.eval.timing_rounds)} of the surrogate and every setting on {_devices(results)}; the "
              "first call (warm-up, compilation) is listed apart. The surrogate's error here is its error on the "
              "same samples.", "",
              "| setting | seconds per sample | first call | relative L2 |", "|---|---|---|---|"]
    for r in results["solver_ladder"]:
        setting = setting_name(r)
        lines.append(f"| solver {setting} | {r['seconds_per_sample']:.4g} | {r['first_call_seconds']:.4g} | "
                     f"{r['rel_l2']:.3g} |")
    lines.append(f"| surrogate | {results['model_seconds_per_sample']:.4g} | "
                 f"{results['model_first_call_seconds_per_sample']:.4g} | {results['timed_rel_l2']:.3g} |")
    for s in results.get("solver_ladder_skipped", []):
        setting = setting_name(s)
        lines.append(f"\nSkipped: solver {setting}: {s['reason']}.")
    if results.get("speedup_at_data_setting"):
        lines += ["", f"At the data's own setting (not matched in accuracy) the solver takes "
                      f"{results['speedup_at_data_setting']:.3g}x the surrogate's time."]
    return lines
