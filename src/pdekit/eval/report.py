"""report.md and PNG plots of a run: loss curves, predictions, error by frequency, error against
resolution, and the speed-accuracy comparison with the solver."""

from __future__ import annotations

import os

import torch

from pdekit.eval import metrics


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _loss_curves(plt, history, path):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = [h["epoch"] for h in history]
    ax.semilogy(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.semilogy(epochs, [h["test_rel_l2"] for h in history], label="test relative L2")
    ax.set_xlabel("epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _predictions(plt, x, y, pred, count, path):
    """Per sample: the input, truth and prediction (overlaid in 1D, side by side in 2D), the error."""
    count = min(count, len(y))
    ndim = y.ndim - 2
    columns = 3 if ndim == 1 else 4
    fig, axes = plt.subplots(count, columns, figsize=(3.6 * columns, 2.6 * count), squeeze=False)
    for i in range(count):
        inp, truth, guess = x[i, 0].numpy(), y[i, 0].numpy(), pred[i, 0].numpy()
        if ndim == 1:
            grid = torch.linspace(0, 1, truth.shape[-1]).numpy()
            axes[i, 0].plot(torch.linspace(0, 1, inp.shape[-1]).numpy(), inp, color="0.4", lw=1)
            axes[i, 1].plot(grid, truth, lw=2, label="truth")
            axes[i, 1].plot(grid, guess, "--", lw=1.2, label="prediction")
            axes[i, 1].legend(fontsize=7)
            axes[i, 2].plot(grid, guess - truth, lw=1, color="tab:red")
            titles = ("input", "truth and prediction", "error")
        else:
            panels = (inp, truth, guess, guess - truth)
            titles = ("input", "truth", "prediction", "error")
            for j, data in enumerate(panels):
                data = data if ndim == 2 else data[..., data.shape[-1] // 2]
                image = axes[i, j].imshow(data.T, origin="lower", cmap="RdBu_r" if j == 3 else "viridis")
                fig.colorbar(image, ax=axes[i, j], fraction=0.046)
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
        for j, title in enumerate(titles):
            axes[i, j].set_title(f"sample {i}: {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _frequency(plt, results, path):
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    bands = list(metrics.BANDS)
    ax.bar(bands, [results[f"frmse_{b}"] for b in bands], color="tab:blue")
    ax.set_ylabel("RMSE of the error in band")
    ax.set_title("error by frequency (|k| < 4, 4-11, >= 12)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _resolution(plt, results, path):
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    res = [results["resolution"]] + [int(r) for r in results["resolution_transfer"]]
    err = [results["test_rel_l2"]] + list(results["resolution_transfer"].values())
    ax.plot(res, err, "o-")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("test resolution (trained at %d)" % results["resolution"])
    ax.set_ylabel("mean relative L2")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _speed(plt, results, path):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ladder = results["solver_ladder"]
    if ladder:
        ax.loglog([r["seconds_per_sample"] for r in ladder], [max(r["rel_l2"], 1e-16) for r in ladder], "s",
                  color="tab:orange", label="solver (cheaper settings)")
    ax.loglog([results["model_seconds_per_sample"]], [results["test_rel_l2"]], "o", color="tab:blue", ms=9,
              label="surrogate")
    if results["solver_seconds_per_sample"] is not None:
        ax.axvline(results["solver_seconds_per_sample"], color="tab:orange", ls="--", lw=1, label="solver as in the data")
    ax.set_xlabel("seconds per sample")
    ax.set_ylabel("relative L2 against the data")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def optional_figure(value, spec: str, suffix: str = "") -> str:
    """A figure, or why there is none (data from another layout has no pdekit solver to time)."""
    return "n/a (no pdekit solver for this data)" if value is None else f"{value:{spec}}{suffix}"


def write_report(run_dir, recipe, trained, results, x_test, y_test, pred) -> None:
    plt = _pyplot()
    plots = os.path.join(run_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    if trained.history:
        _loss_curves(plt, trained.history, os.path.join(plots, "loss.png"))
    _predictions(plt, x_test, y_test, pred, recipe.eval.plot_samples, os.path.join(plots, "predictions.png"))
    _frequency(plt, results, os.path.join(plots, "frequency.png"))
    _resolution(plt, results, os.path.join(plots, "resolution.png"))
    _speed(plt, results, os.path.join(plots, "speed_accuracy.png"))

    lines = [
        f"# {recipe.name}", "", recipe.description, "",
        "| metric | value |", "|---|---|",
    ]
    for key in ("test_rel_l2", "median_rel_l2", "rmse", "nrmse", "max_error", "frmse_low", "frmse_mid",
                "frmse_high"):
        lines.append(f"| {key} | {results[key]:.4g} |")
    lines += [
        f"| parameters | {results['params']:,} |",
        f"| epochs | {results['epochs']} |",
        f"| train seconds | {results['train_seconds']:.1f} |",
        f"| solver seconds per sample ({results['device']}) | {optional_figure(results['solver_seconds_per_sample'], '.4g')} |",
        f"| model seconds per sample ({results['device']}) | {results['model_seconds_per_sample']:.4g} |",
        f"| speed-up | {optional_figure(results['speedup'], '.1f', 'x')} |",
        "",
        "![loss](plots/loss.png) ![predictions](plots/predictions.png)",
        "",
        "## Resolution transfer", "",
        "| resolution | mean relative L2 |", "|---|---|",
        f"| {results['resolution']} (trained) | {results['test_rel_l2']:.4g} |",
    ]
    lines += [f"| {r} | {e:.4g} |" for r, e in results["resolution_transfer"].items()]
    lines += ["", "![resolution](plots/resolution.png) ![frequency](plots/frequency.png)", "",
              "## Speed against the solver", "",
              "The solver at the data's settings and at cheaper ones, each timed in this run on the same device, "
              "and its error against the data; the surrogate's point is its test error.", "",
              "| setting | seconds per sample | relative L2 |", "|---|---|---|"]
    for r in results["solver_ladder"]:
        setting = ", ".join(f"{k}={v:g}" for k, v in r.items() if k not in ("seconds_per_sample", "rel_l2"))
        lines.append(f"| solver {setting} | {r['seconds_per_sample']:.4g} | {r['rel_l2']:.3g} |")
    lines.append(f"| surrogate | {results['model_seconds_per_sample']:.4g} | {results['test_rel_l2']:.3g} |")
    lines += ["", "![speed](plots/speed_accuracy.png)", ""]
    with open(os.path.join(run_dir, "report.md"), "w") as fh:
        fh.write("\n".join(lines))
