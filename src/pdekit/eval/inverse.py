"""Inputs recovered from observed outputs through a trained operator, checked by the solver.

A trained operator G maps inputs a (a coefficient, an initial state) to outputs u. Given u observed
at some points with noise, ``recover_inputs`` finds the a whose G(a) fits the observations best,
with a smoothness penalty on a, by gradient descent through the network: one backward pass per
step for the whole batch, where an inversion through the solver needs its adjoint. The network can
be fooled: an input unlike its training data may fit through the surrogate and not through the PDE,
so ``solver_misfit`` solves the PDE for the recovered inputs and scores that answer against the
observations, next to the solver's own answer for the true inputs on the same grid.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from pdekit.errors import ConfigError, PdekitError
from pdekit.eval.metrics import relative_l2
from pdekit.progress import progress_bar, show_postfix


@dataclass
class Recovered:
    """What ``recover_inputs`` found.

    inputs : (n, in_channels, *space), the recovered inputs in the data's units, on the CPU.
    outputs : (n, out_channels, *space), the network's outputs for them.
    misfit : (n,), the relative L2 misfit of those outputs at the observed points.
    history : the objective (data misfit + smoothness) of the batch every ``log_every`` steps.
    """
    inputs: torch.Tensor
    outputs: torch.Tensor
    misfit: torch.Tensor
    history: list[float] = field(default_factory=list)


def masked_rel_l2(pred: torch.Tensor, true: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per sample, ||pred - true|| / ||true|| over the points where ``mask`` is true (n,)."""
    m = mask.expand_as(true)
    zero = torch.zeros((), dtype=true.dtype)
    gap, size = torch.where(m, pred - true, zero), torch.where(m, true, zero)  # (NaN where unobserved)
    return (gap.pow(2).flatten(1).sum(1) / size.pow(2).flatten(1).sum(1).clamp_min(1e-30)).sqrt()


def _roughness(z: torch.Tensor, periodic: bool) -> torch.Tensor:
    """Per sample, the mean over the unit domain of |grad z|^2 by differences (a grid of n points
    per axis has spacing 1 / n)."""
    total = 0.0
    for axis in range(2, z.dim()):
        n = z.shape[axis]
        if n == 1:  # (a trajectory's repeated input slice: one point along time)
            continue
        step = (torch.roll(z, -1, axis) - z) if periodic else torch.diff(z, dim=axis)
        total = total + (step * n).pow(2).flatten(1).mean(1)
    return total


def boxes(bounds, channels: list[int]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(low, high), each (len(channels),), of ``bounds``: one (low, high) pair for all the
    recovered ``channels``, or a pair per channel in their order, flat; None for None."""
    if bounds is None:
        return None
    values, count = [float(v) for v in bounds], len(channels)
    if len(values) == 2:
        values *= count
    if len(values) != 2 * count:
        named = f"channel{'s' if count > 1 else ''} {', '.join(map(str, channels))}"
        raise ConfigError(f"bounds must be one LOW HIGH pair for every recovered channel or one pair per recovered "
                          f"channel ({count} here, {named}: {2 * count} numbers), got {len(values)} numbers")
    low, high = torch.tensor(values[0::2], dtype=torch.float64), torch.tensor(values[1::2], dtype=torch.float64)
    if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (low < high).all()):
        raise ConfigError(f"bounds must be finite LOW HIGH pairs with LOW < HIGH, got {' '.join(map(str, bounds))}")
    return low, high


def recover_inputs(trained, observed: torch.Tensor, mask: torch.Tensor | None = None, *, steps: int = 300,
                   smoothness: float = 1e-6, bounds=None, periodic: bool = False,
                   start: torch.Tensor | None = None, channels=None, held: torch.Tensor | None = None,
                   repeated_slice: bool = False, log_every: int = 25, quiet: bool = False,
                   label: str = "recovering inputs") -> Recovered:
    """Inputs a whose network outputs G(a) fit ``observed`` at the points of ``mask``.

    Minimizes the mean over samples of the normalized outputs' mean square misfit at the observed
    points plus ``smoothness`` times the mean |grad a|^2 of the normalized inputs over the unit
    domain, by L-BFGS (strong-Wolfe line search, float64) over all samples at once (Adam's
    per-point step sizes put rough noise into the inputs that a smoothing operator cannot see).
    The network's weights stay as trained.

    Parameters
    ----------
    trained : TrainedModel
        The operator (``load_trained(run_dir)[0]`` or ``fit``'s result).
    observed : torch.Tensor
        (n, out_channels, *space): the observations, in the data's units, on the model's grid
        (values where ``mask`` is false are ignored).
    mask : torch.Tensor or None
        Boolean, broadcastable to ``observed``: where u is observed (None: everywhere).
    steps : L-BFGS iterations at most (it stops earlier when it converges).
    smoothness : weight of the roughness penalty (0: none); choose it on samples whose inputs are
        known (``pdekit invert`` does, on the validation split).
    bounds : (low, high) in the data's units, for every recovered channel, or one such pair per
        recovered channel in the order ``channels`` names them (else ascending), flat (low_1,
        high_1, low_2, high_2, ...): the recovered channels are
        low + (high - low) sigmoid(w), so they stay inside (a coefficient known to lie in [3, 12],
        say, beside a cross term in [-2, 2]).
    periodic : the data's grid is periodic (the roughness then wraps around).
    start : (n, in_channels, *space) first guess in the data's units (None: the training inputs'
        mean, channel by channel, or the middle of ``bounds``).
    channels : the input channels to recover (None: all); the others are known and held at
        ``held``'s values (a known source beside an unknown coefficient, per-sample parameters).
    held : (n, in_channels, *space) in the data's units, whose other channels are ignored;
        needed when ``channels`` leaves some out.
    repeated_slice : the input is one slice repeated along the first axis after the channels (a
        trajectory run's input: the initial state at every time of the output): that slice is
        recovered (data assimilation: the initial state from observations of the trajectory).
    log_every : iterations between the objective values kept in ``history``.
    quiet : no progress bar.
    label : the progress bar's.

    Returns
    -------
    Recovered
    """
    from pdekit.train.lbfgs import lbfgs_chunk, make_lbfgs

    if observed.dim() < 3:
        raise ConfigError(f"observed must be (samples, channels, *space), got shape {tuple(observed.shape)}")
    mask = torch.ones_like(observed, dtype=torch.bool) if mask is None else torch.as_tensor(mask).to(torch.bool)
    try:
        mask = mask.expand_as(observed)
    except RuntimeError:
        raise ConfigError(f"mask of shape {tuple(mask.shape)} does not broadcast to observed "
                          f"{tuple(observed.shape)}") from None
    if not mask.flatten(1).any(1).all():
        raise ConfigError("every sample needs at least one observed point (mask is false everywhere in one)")
    if steps < 1 or log_every < 1 or not smoothness >= 0:
        raise ConfigError(f"steps and log_every must be >= 1 and smoothness >= 0, got {steps}, {log_every} and "
                          f"{smoothness}")
    if not torch.isfinite(observed[mask]).all():
        raise ConfigError("observed holds NaN or inf at observed points")
    device, dtype = trained.device, torch.float64
    net = copy.deepcopy(trained.model).to(dtype).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x_norm, y_norm = (copy.deepcopy(n).to(device=device, dtype=dtype) for n in (trained.x_normalizer,
                                                                              trained.y_normalizer))
    cin = int(x_norm.mean.numel())
    shape = (len(observed), cin, *observed.shape[2:])
    chosen = list(range(cin)) if channels is None else sorted({int(c) for c in channels})
    if not chosen or not all(0 <= c < cin for c in chosen):
        raise ConfigError(f"channels must name some of the {cin} input channels 0 .. {cin - 1}, got {channels}")
    for name, given in (("start", start), ("held", held)):
        if given is not None and tuple(given.shape) != shape:
            raise ConfigError(f"{name} must be {shape} (samples, input channels, *space), got {tuple(given.shape)}")
    if len(chosen) < cin and held is None:
        raise ConfigError(f"held must give the values of the input channels not recovered (all but {chosen})")
    first = (start.to(device, dtype) if start is not None else
             x_norm.mean.reshape(1, cin, *(1,) * (len(shape) - 2)).expand(shape).clone())[:, chosen]
    if repeated_slice:  # the unknowns: one slice, repeated along time by inputs_of
        if len(shape) < 4:
            raise ConfigError(f"repeated_slice needs a time axis and space after the channels, got {shape}")
        first = first[:, :, :1]
    named = chosen if channels is None else list(dict.fromkeys(int(c) for c in channels))
    box = boxes(bounds, named)
    if box is not None and channels is not None:  # pairs given in the order of ``channels``; chosen is sorted
        order = [named.index(c) for c in chosen]
        box = (box[0][order], box[1][order])
    if box is not None:
        low, high = (b.to(device, dtype).reshape(1, len(chosen), *(1,) * (len(shape) - 2)) for b in box)
        if start is None:
            first = (0.5 * (low + high)).expand_as(first).clone()
        w = torch.logit(((first - low) / (high - low)).clamp(1e-6, 1 - 1e-6))
        recovered_of = lambda w: low + (high - low) * torch.sigmoid(w)  # noqa: E731
    else:
        w = first
        recovered_of = lambda w: w  # noqa: E731
    base = held.to(device, dtype) if len(chosen) < cin else None

    def inputs_of(w):
        values = recovered_of(w)
        if repeated_slice:
            values = values.expand(-1, -1, shape[2], *shape[3:])
        if base is None:
            return values
        full = base.clone()
        full[:, chosen] = values
        return full

    w = w.detach().clone().requires_grad_(True)
    mask = mask.to(device)
    target = torch.where(mask, y_norm.encode(observed.to(device, dtype)), 0.0)  # unobserved values never count
    counts = mask.flatten(1).sum(1).to(dtype)

    def objective(w):
        z = x_norm.encode(inputs_of(w))
        misfit = torch.where(mask, net(z) - target, 0.0).pow(2).flatten(1).sum(1) / counts
        rough = z[:, chosen, :1] if repeated_slice else z[:, chosen]  # (the slice once)
        return (misfit + smoothness * _roughness(rough, periodic)).mean() if smoothness else misfit.mean()

    lbfgs = make_lbfgs([w], history_size=50)

    def closure():
        lbfgs.zero_grad(set_to_none=True)
        value = objective(w)
        value.backward()
        return value

    history, done = [], 0
    bar = progress_bar(total=steps, desc=label, unit="it", disable=quiet, leave=False)
    try:
        while done < steps:
            ran, reason = lbfgs_chunk(lbfgs, closure, min(log_every, steps - done))
            done += ran
            with torch.no_grad():
                value = float(objective(w))
            if not math.isfinite(value):
                raise ConfigError(f"the objective became {value} after {done} L-BFGS iterations")
            history.append(value)
            bar.update(ran)
            show_postfix(bar, {"objective": f"{value:.3g}"})
            if reason or ran == 0:
                break
    finally:
        bar.close()
    with torch.no_grad():
        inputs = inputs_of(w).detach()
        outputs = y_norm.decode(net(x_norm.encode(inputs)))
    observed = observed.to(dtype).cpu()
    return Recovered(inputs.float().cpu(), outputs.float().cpu(), masked_rel_l2(outputs.cpu(), observed, mask.cpu()),
                     history)


SMOOTHNESS = (0.0, 1e-7, 1e-6, 1e-5, 1e-4)  # the penalties tried on the validation samples


def observe(y: torch.Tensor, noise: float, fraction: float, seed: int,
            from_time: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic observations of ``y`` (n, c, *space): Gaussian noise of ``noise`` times the
    standard deviation of each sample's channel, at the points (all channels of a point together) kept with
    probability ``fraction`` (each sample keeps at least one), NaN elsewhere; returns (observed,
    mask (n, 1, *space)). ``from_time``: for trajectories (n, c, t, *space), whose axis 2 is
    time, none before that index."""
    if not 0 < fraction <= 1 or not noise >= 0:
        raise ConfigError(f"the observed fraction must lie in (0, 1] and the noise be >= 0, got {fraction} and {noise}")
    if from_time and not 0 <= from_time < (y.shape[2] if y.dim() > 3 else 0):
        raise ConfigError(f"observations from time index {from_time} need a trajectory with more stored times "
                          f"(outputs shaped {tuple(y.shape)})")
    g = torch.Generator().manual_seed(seed)
    scale = y.flatten(2).std(2).view(*y.shape[:2], *(1,) * (y.dim() - 2))  # per channel: u beside 100 u
    observed = y + noise * scale * torch.randn(y.shape, generator=g, dtype=y.dtype)
    draw = torch.rand((len(y), 1, *y.shape[2:]), generator=g)
    draw[:, :, :from_time] = math.inf  # never kept, nor the point a sample keeps in any case
    mask = draw < fraction
    first = draw.flatten(1).argmin(1)  # the point each sample keeps in any case
    mask.view(len(y), -1)[torch.arange(len(y)), first] = True
    return torch.where(mask, observed, math.nan), mask


def solve_inputs(problem, seed: int, first: int, x: torch.Tensor, target_time, device: str = "cpu") -> torch.Tensor:
    """The problem's solver on the data's grid for inputs ``x`` (n, c, *space) of the stored
    samples ``first ..`` (what else the data drew for them, such as a forcing, drawn again): the
    outputs (n, fields, *space) at ``target_time``. Channels of per-sample parameters after the
    fields (a run's conditioning) must hold the true values: the solver takes the drawn ones.
    Raises ConfigError where the stored input is not what the solver starts from (a state after a
    spin-up or at a later time) or the solver has no grid of its own to set."""
    import dataclasses

    from pdekit.eval.evaluate import _Setting

    params = dataclasses.asdict(problem.config)
    if "solve_resolution" not in params:
        raise ConfigError(f"{problem.name} solves on its own mesh, not on the data's grid")
    setting = _Setting(problem, {**params, "solve_resolution": problem.resolution}, seed,
                       range(first, first + len(x)), device, target_time)
    initial = not getattr(problem.config, "spinup", 0)
    names = setting.input_names(initial)
    if not names or x.shape[1] != len(names) + len(problem.sample_params):
        raise ConfigError(f"{problem.name}'s stored input is not what its solver starts from (a state after a "
                          f"spin-up or at a later time)")
    for c, name in enumerate(names):
        setting.inputs[name] = x[:, c].to(device, torch.float64)
    return setting.run().float().cpu()


def varying_channels(x: torch.Tensor) -> list[int]:
    """The input channels of ``x`` (n, c, *space) that vary in space in some sample: the fields,
    not the constant planes of per-sample parameters."""
    flat = x.flatten(2)
    spread = (flat.max(2).values - flat.min(2).values).amax(0)
    size = flat.abs().amax((0, 2)).clamp_min(1e-30)
    return [c for c in range(x.shape[1]) if float(spread[c]) > 1e-6 * float(size[c])]


def invert(trained, val: tuple, test: tuple, *, noise: float = 0.01, fraction: float = 0.25, steps: int = 300,
           bounds=None, periodic: bool = False, channels=None, solver=None, seed: int = 0,
           repeated_slice: bool = False, from_time: int = 0, quiet: bool = False) -> tuple[dict, dict]:
    """Recover the test inputs from noisy, partial observations of their outputs, with the
    smoothness chosen on the validation samples, and check the answer with the solver.

    Parameters
    ----------
    trained : TrainedModel
    val, test : (x, y) pairs: validation samples (to choose the smoothness among ``SMOOTHNESS``
        by their recovered inputs' error) and the test samples to invert.
    noise, fraction, from_time : the observations (``observe``): noise relative to the standard
        deviation of each sample's channel, the fraction of points observed and, for trajectories,
        the first stored time observed.
    steps, bounds, periodic, repeated_slice : as ``recover_inputs``.
    channels : the input channels to recover (None: those that vary in space,
        ``varying_channels``); the others are known, held at their true values.
    solver : None, or a function inputs (n, c, *space) -> outputs (the problem's solver on the
        test samples, ``solve_inputs``) for the physics check.
    seed : of the observations (the validation ones use seed, the test ones seed + 1).

    Returns
    -------
    results : dict
        ``channels`` (recovered) and ``held_channels``; ``smoothness`` (chosen) and the validation
        ``smoothness_ladder`` (``smoothness_note`` where it chose the largest); on the test
        samples the mean and median ``input_rel_l2`` (recovered against true inputs, over the
        recovered channels), ``observation_noise`` (the observations' own relative misfit at the
        observed points), ``surrogate_misfit`` (the network's outputs for the recovered inputs
        against the observations there), ``surrogate_output_rel_l2`` (those outputs against the
        true outputs everywhere), with a solver ``solver_output_rel_l2`` (the solver's outputs for
        the recovered inputs against the true outputs: the misfit the physics gives),
        ``solver_baseline_rel_l2`` (the solver on the true inputs on the same grid: its own
        discretization error) and ``solver_note`` where the solver's misfit is over 10 times the
        network's and its own baseline's, or ``solver_check`` (why no check); ``bounds`` as one
        [low, high] per channel of ``channels`` (None without), and ``seconds`` (the test recovery).
    arrays : dict
        ``true_inputs``, ``recovered``, ``observed``, ``mask``, ``true_outputs``,
        ``surrogate_outputs`` and, with a solver check, ``solver_outputs``.
    """
    import time

    x_val, y_val = val
    x_test, y_test = test
    if from_time and not repeated_slice:  # (a steady 2D field's axis 2 is space)
        raise ConfigError("observations from a later time apply to trajectories (repeated_slice)")
    cin = x_test.shape[1]
    given = None if channels is None else list(dict.fromkeys(int(c) for c in channels))  # (bounds follow this order)
    chosen = varying_channels(torch.cat([x_val, x_test])) if given is None else sorted(given)
    if not chosen:
        raise ConfigError("no input channel varies in space (the run maps per-sample parameters): nothing to recover "
                          "by default; name the channels to recover (--recover C)")
    if not all(0 <= c < cin for c in chosen):
        raise ConfigError(f"the channels to recover (--recover) must lie in 0 .. {cin - 1}, got {channels}")
    options = dict(steps=steps, bounds=bounds, periodic=periodic, channels=given or chosen,
                   repeated_slice=repeated_slice, quiet=quiet)
    obs_val, mask_val = observe(y_val, noise, fraction, seed, from_time)
    ladder, begun = [], time.perf_counter()
    for i, smoothness in enumerate(SMOOTHNESS):
        found = recover_inputs(trained, obs_val, mask_val, smoothness=smoothness, held=x_val, **options,
                               label=f"validation, smoothness {smoothness:g} ({i + 1}/{len(SMOOTHNESS)})")
        error = relative_l2(found.inputs[:, chosen], x_val[:, chosen])
        ladder.append({"smoothness": smoothness, "val_input_rel_l2": float(error.mean())})
    best = min(ladder, key=lambda row: row["val_input_rel_l2"])["smoothness"]
    observed, mask = observe(y_test, noise, fraction, seed + 1, from_time)
    started = time.perf_counter()
    found = recover_inputs(trained, observed, mask, smoothness=best, held=x_test, **options, label="test samples")
    seconds = time.perf_counter() - started
    errors = relative_l2(found.inputs[:, chosen], x_test[:, chosen])
    results = {
        "samples": len(x_test), "validation_samples": len(x_val), "noise": noise, "observed_fraction": fraction,
        "observed_from": from_time,
        "steps": steps, "bounds": _bounds_by_channel(bounds, given or chosen, chosen),
        "channels": chosen, "held_channels": [c for c in range(cin) if c not in chosen],
        "smoothness": best, "smoothness_ladder": ladder,
        "input_rel_l2": float(errors.mean()), "median_input_rel_l2": float(errors.median()),
        "observation_noise": float(masked_rel_l2(observed, y_test, mask).mean()),
        "surrogate_misfit": float(found.misfit.mean()),
        "surrogate_output_rel_l2": float(relative_l2(found.outputs, y_test).mean()),
        "seconds": seconds, "total_seconds": time.perf_counter() - begun,
    }
    if best == SMOOTHNESS[-1]:
        results["smoothness_note"] = f"the largest smoothness tried ({best:g}) was best: a larger one may be better"
    arrays = {"true_inputs": x_test, "recovered": found.inputs, "observed": observed, "mask": mask,
              "true_outputs": y_test, "surrogate_outputs": found.outputs}
    if solver is not None:
        try:
            arrays["solver_outputs"] = solver(found.inputs)
            results["solver_output_rel_l2"] = float(relative_l2(arrays["solver_outputs"], y_test).mean())
            results["solver_baseline_rel_l2"] = float(relative_l2(solver(x_test), y_test).mean())
            if results["solver_output_rel_l2"] > 10 * max(results["surrogate_output_rel_l2"],
                                                          results["solver_baseline_rel_l2"]):
                results["solver_note"] = ("the solver does not confirm the recovered inputs: the network's outputs "
                                          "for them are far closer to the truth than the physics' (inputs unlike its "
                                          "training data, or a part of the input it cannot see); --bounds, more "
                                          "observations or a better trained network may help")
        except PdekitError as exc:  # the recovered inputs may be outside what the solver accepts
            arrays.pop("solver_outputs", None)
            results["solver_check"] = str(exc)
    return results, arrays


def _bounds_by_channel(bounds, order: list[int], channels: list[int]):
    """``bounds`` (one LOW HIGH pair for all, or one per channel of ``order``, the --recover order) as
    one [low, high] per channel of ``channels``; None without bounds."""
    if bounds is None:
        return None
    pairs = [[float(bounds[i]), float(bounds[i + 1])] for i in range(0, len(bounds), 2)]
    by = dict(zip(order, pairs * len(order) if len(pairs) == 1 else pairs))
    return [by[c] for c in channels]


def plot_inversion(arrays: dict, path: str, names=("input", "output"), count: int = 2, channel: int = 0,
                   trajectory: bool = False) -> bool:
    """Per test sample: the true and the recovered input, the observations, and the output the
    solver (else the network) gives for the recovered input against the truth (overlaid in 1D,
    side by side in 2D, whose observations are drawn as dots; a 1D ``trajectory``'s initial state
    overlaid, its space-time outputs side by side; a 2D one's initial state and its outputs at the
    last stored time, as 2D data). Returns whether it drew (1D and 2D data and trajectories)."""
    import numpy as np

    from pdekit.eval.report import _label, _pyplot, _save

    plt = _pyplot()
    x, rec, y, obs, mask = (arrays[k] for k in ("true_inputs", "recovered", "true_outputs", "observed", "mask"))
    x, rec = x[:, channel:], rec[:, channel:]  # the input channel drawn first
    names = (names[0] if channel == 0 else f"channel {channel}", names[1])
    answer, by = (arrays["solver_outputs"], "solver") if "solver_outputs" in arrays else (arrays["surrogate_outputs"],
                                                                                          "network")
    count, ndim = min(count, len(x)), x.dim() - 2
    if trajectory and ndim == 3:  # 2D in space: the initial state, and the trajectories' last slices
        x, rec = x[:, :, 0], rec[:, :, 0]
        y, obs, mask, answer = (a[:, :, -1] for a in (y, obs, mask, answer))
        names, ndim, trajectory = (f"initial {names[0]}", f"final {names[1]}"), 2, False
    if trajectory:
        if ndim != 2:
            return False
        _plot_trajectory_inversion(plt, x[:count, 0, 0], rec[:count, 0, 0], y[:count, 0], mask[:count, 0],
                                   answer[:count, 0], by, names, path)
        return True
    if ndim not in (1, 2):
        return False
    columns = 2 if ndim == 1 else 5
    fig, axes = plt.subplots(count, columns, figsize=(4.6 * columns if ndim == 1 else 3.3 * columns, 3.1 * count),
                             squeeze=False)
    for i in range(count):
        if ndim == 1:
            grid = np.arange(x.shape[-1]) / x.shape[-1]
            axes[i, 0].plot(grid, x[i, 0], lw=2, label="true")
            axes[i, 0].plot(grid, rec[i, 0], "--", lw=1.2, label="recovered")
            _label(axes[i, 0], "x (fraction of the domain)", names[0], f"test sample {i}: input {names[0]}")
            seen = mask[i, 0].numpy()
            axes[i, 1].plot(grid, y[i, 0], lw=2, label="true")
            axes[i, 1].plot(grid[seen], obs[i, 0].numpy()[seen], ".", ms=4, color="k", label="observed")
            axes[i, 1].plot(grid, answer[i, 0], "--", lw=1.2, label=f"{by} on the recovered input")
            _label(axes[i, 1], "x (fraction of the domain)", names[1], f"test sample {i}: output {names[1]}")
            for ax in axes[i]:
                ax.legend(fontsize=7)
            continue
        error = answer[i, 0] - y[i, 0]
        panels = [(x[i, 0], f"true {names[0]}", "viridis"), (rec[i, 0], f"recovered {names[0]}", "viridis"),
                  (y[i, 0], f"{names[1]}: truth, observed points", "viridis"), (answer[i, 0], f"{names[1]}: {by} on "
                  f"recovered", "viridis"), (error, f"{names[1]}: {by} - truth", "RdBu_r")]
        pair = [(float(min(a.min(), b.min())), float(max(a.max(), b.max()))) for a, b in ((x[i, 0], rec[i, 0]),
                                                                                          (y[i, 0], answer[i, 0]))]
        reach = float(error.abs().max())  # the error's colours centred on zero
        scales = [pair[0], pair[0], pair[1], pair[1], (-reach, reach)]  # true and recovered on one scale
        for j, (data, title, cmap) in enumerate(panels):
            same = dict(vmin=scales[j][0], vmax=scales[j][1])
            image = axes[i, j].imshow(data.numpy().T, origin="lower", extent=(0, 1, 0, 1), aspect="auto", cmap=cmap,
                                      **same)
            fig.colorbar(image, ax=axes[i, j], fraction=0.046, pad=0.01)
            _label(axes[i, j], "x", "y", f"sample {i}: {title}")
            axes[i, j].title.set_fontsize(9)  # (five panels a row: full-size titles ran into each other)
        points = (mask[i, 0].nonzero().float() + 0.5) / torch.tensor(mask.shape[2:])  # pixel centres
        axes[i, 2].plot(points[:, 0], points[:, 1], ".", ms=1.5, color="k")
    _save(fig, path)
    plt.close(fig)
    return True


def _plot_trajectory_inversion(plt, x, rec, y, mask, answer, by: str, names, path: str) -> None:
    """Rows of samples: the initial state, true against recovered; the true trajectory (t up, x
    across) with the observed points; the trajectory from the recovered state; their difference."""
    import numpy as np

    from pdekit.eval.report import _label, _save

    fig, axes = plt.subplots(len(x), 4, figsize=(16, 3.2 * len(x)), squeeze=False)
    grid = np.arange(x.shape[-1]) / x.shape[-1]
    for i in range(len(x)):
        axes[i, 0].plot(grid, x[i], lw=2, label="true")
        axes[i, 0].plot(grid, rec[i], "--", lw=1.2, label="recovered")
        axes[i, 0].legend(fontsize=7)
        _label(axes[i, 0], "x (fraction of the domain)", names[0], f"sample {i}: initial {names[0]}")
        error = answer[i] - y[i]
        reach = float(error.abs().max())
        low, high = float(min(y[i].min(), answer[i].min())), float(max(y[i].max(), answer[i].max()))
        for j, (data, title, cmap, scale) in enumerate((
                (y[i], f"{names[1]}: truth, observed points", "viridis", (low, high)),
                (answer[i], f"{names[1]}: {by} from the recovered state", "viridis", (low, high)),
                (error, f"{names[1]}: {by} - truth", "RdBu_r", (-reach, reach))), start=1):
            image = axes[i, j].imshow(data.numpy(), origin="lower", extent=(0, 1, 0, 1), aspect="auto", cmap=cmap,
                                      vmin=scale[0], vmax=scale[1])
            fig.colorbar(image, ax=axes[i, j], fraction=0.046, pad=0.01)
            _label(axes[i, j], "x (fraction of the domain)", "time (fraction of the trajectory)", f"sample {i}: {title}")
        seen = (mask[i].nonzero().float() + 0.5) / torch.tensor(mask.shape[1:])  # (t, x) pixel centres
        axes[i, 1].plot(seen[:, 1], seen[:, 0], ".", ms=1.5, color="k")
    _save(fig, path)
    plt.close(fig)
