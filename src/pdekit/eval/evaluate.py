"""Evaluate a trained model: metrics on the test split, resolution transfer, and the surrogate's
speed next to the solver's at the accuracy each reaches.

The solver is run on exactly the test inputs the data holds (a sample is one function of
(seed, index) at every resolution, see numerics.random_fields) at its data setting and at cheaper
ones: larger time steps, coarser solve grids, and grids coarser than the stored one with the
result interpolated to it, until a setting is less accurate than the surrogate. Where the surrogate
reads a stored state after the solver's own start (a later input slice, data stored after a
spin-up), the solver starts from that state instead, as a rollout's does (``state_ladder``). The surrogate and
every solver setting are timed the same way in the same run: alternating rounds, the median of
each, with the first call (warm-up, compilation) reported apart.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

import torch

from pdekit.data.dataset import load_task
from pdekit.data.generate import draw_inputs
from pdekit.errors import PdekitError
from pdekit.eval import metrics
from pdekit.models.registry import count_parameters
from pdekit.problems import get_problem

MAX_DT_DOUBLINGS = 10  # time steps tried: dt, 2 dt, 4 dt, ... up to 1024 dt
LOOSEST_TOLERANCE = 1e-2  # an iterative solver's tolerance is loosened 100x per setting up to this
SETTING_KEYS = ("solve_resolution", "mesh_size", "dt")  # the config entries a solver setting differs in
RESULT_KEYS = ("rel_l2", "first_call_seconds", "seconds_per_sample", "reason")  # the rest of a ladder row


def _timed(fn):
    """(fn's result, wall seconds), synchronized on CUDA."""
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def _grids(problem) -> list[int]:
    """Solve grids from the data's down to the coarsest the problem allows, each nested in the
    next finer one; grids below the stored resolution are interpolated to it."""
    s, r, low = problem.solve_resolution, problem.resolution, problem.min_resolution
    if problem.periodic:
        grids, g = [s], s  # the data's own grid always comes first
        while g % 2 == 0 and g // 2 >= low and (g // 2 % r == 0 or r % (g // 2) == 0):
            g //= 2
            grids.append(g)
        return grids
    cells, m = [], (s - 1) // (r - 1)  # multiples of the stored cells, then its halvings
    while m >= 1:
        cells.append(m * (r - 1))
        m //= 2
    c = r - 1
    while c % 2 == 0 and c // 2 + 1 >= low:
        c //= 2
        cells.append(c)
    return [c + 1 for c in cells]


def _settings(problem) -> list[dict]:
    """Solver settings from the data's to cheaper ones, as config overrides: the problem's own
    (``cheaper_settings()``, such as coarser meshes of a finite-element problem, sampled on the
    stored grid) or the nested grids of ``_grids``."""
    own = getattr(problem, "cheaper_settings", None)
    return own() if own else [{"solve_resolution": g} for g in _grids(problem)]


def _restrict(problem, field: torch.Tensor, fine: int, coarse: int) -> torch.Tensor:
    """``field`` on a grid of ``fine`` points per axis (trailing ``ndim`` axes) at the points it
    shares with the nested grid of ``coarse`` points."""
    stride = fine // coarse if problem.periodic else (fine - 1) // (coarse - 1)
    return field[(..., *(slice(None, None, stride),) * problem.ndim)]


def regrid(problem, field: torch.Tensor, g: int, r: int) -> torch.Tensor:
    """``field`` on grid g (trailing ``ndim`` axes) on the nested grid r: restriction when g is
    finer, interpolation when coarser (Fourier on periodic grids, multilinear on node grids)."""
    nd = problem.ndim
    if g >= r:
        return _restrict(problem, field, g, r)
    if problem.periodic:
        dims = tuple(range(-nd, 0))
        spectrum = torch.fft.fftshift(torch.fft.fftn(field, dim=dims), dim=dims)
        # fftshift puts frequency 0 at index n // 2: pad so it lands at r // 2 (odd and even sizes alike)
        pad = [r // 2 - g // 2, (r - g) - (r // 2 - g // 2)] * nd
        spectrum = torch.nn.functional.pad(spectrum, pad)
        return torch.fft.ifftn(torch.fft.ifftshift(spectrum, dim=dims), dim=dims).real * (r / g) ** nd
    lead = field.shape[:-nd]
    flat = field.reshape(-1, 1, *field.shape[-nd:])
    mode = ("linear", "bilinear", "trilinear")[nd - 1]
    out = torch.nn.functional.interpolate(flat, size=(r,) * nd, mode=mode, align_corners=True)
    return out.reshape(*lead, *(r,) * nd)


class _Setting:
    """One solver setting, ready to solve the timed test samples."""

    def __init__(self, problem, params: dict, seed: int, indices: range, device: str, target_time):
        self.problem, self.grid = problem, params.get("solve_resolution", problem.resolution)
        self.solver = get_problem(problem.name).from_params(min(self.grid, problem.resolution), params)
        self.inputs = draw_inputs(self.solver, seed, indices, device)
        self.target_time = target_time

    def input_names(self, initial: bool) -> list[str]:
        """The drawn inputs that the data stores as its input channels, in their order: a steady
        problem's inputs, or (``initial``: the stored input is the first time slice) a
        time-dependent problem's initial fields; [] where the stored input is something else."""
        p = self.problem
        # the parameters drawn per sample are no input, nor what is not a grid (a forcing's coefficients)
        drawn = [k for k in self.inputs if k not in p.sample_params and self.inputs[k].dim() == 1 + p.ndim]
        names = list(p.inputs) if not p.time_dependent else (drawn if initial else [])
        return [] if p.time_dependent and len(names) != len(p.fields) else names

    def stored_inputs(self, initial: bool) -> torch.Tensor | None:
        """The drawn inputs, channels-first, as the data stores them (``input_names``); None where
        the stored input is something else."""
        names = self.input_names(initial)
        return torch.stack([self.inputs[k] for k in names], dim=1).float().cpu() if names else None

    def run(self) -> torch.Tensor:
        """The answer the surrogate gives, timed as a whole: the solve, the target times, the stored
        grid (interpolation from a coarser grid is part of the solver's cost), left on the device."""
        with torch.no_grad():
            fields = self.solver.solve(self.inputs)
            out = torch.stack([fields[k] for k in self.problem.fields], dim=1)
            if self.problem.time_dependent and self.target_time is not None:
                out = out[:, :, self.target_time]
            return regrid(self.problem, out, self.grid, self.problem.resolution)


def _describe(params: dict, tolerance: str | None = None) -> dict:
    """The entries a setting differs in: grid, mesh, step, and the tolerance where it is loosened."""
    return {k: v for k, v in params.items() if k in SETTING_KEYS or k == tolerance}


def setting_name(row: dict, short: bool = False) -> str:
    """A ladder row's setting as text, grid first: "solve_resolution = 64, dt = 0.02", or with
    ``short`` (beside a plotted point) "64, dt 0.02"."""
    keys = [k for k in SETTING_KEYS if k in row] + [k for k in row if k not in SETTING_KEYS + RESULT_KEYS]
    if short:
        return ", ".join(f"{'' if k == 'solve_resolution' else k + ' '}"
                         f"{row[k] if isinstance(row[k], int) else format(row[k], '.3g')}" for k in keys)
    return ", ".join(f"{k} = {row[k]:g}" for k in keys)


def _check_inputs(problem, setting: _Setting, x_true: torch.Tensor, initial: bool) -> None:
    """Refuse a setting whose drawn inputs are not the stored ones at the points both grids share."""
    drawn, g, r = setting.stored_inputs(initial), setting.grid, problem.resolution
    if drawn is None:
        return
    drawn, stored = (_restrict(problem, drawn, g, r), x_true) if g >= r else (drawn, _restrict(problem, x_true, r, g))
    gap = float((drawn - stored).abs().max())
    if gap > 1e-5 * float(stored.abs().max()):
        raise PdekitError(f"its inputs differ from the stored ones by {gap:.3g}")


def ladder(problem, interval: float, surrogate_error: float, attempt, full: bool = True,
           tolerance: str | None = None):
    """Solver settings from the data's down: those of ``_settings`` (grids) and, on each, a cheaper
    step: the time step doubled or, for a steady problem solved iteratively, its ``tolerance`` (the
    config entry, as ``Problem.iterative_tolerance`` names it) loosened 100x up to 1e-2, until a
    setting is less accurate than ``surrogate_error``. A coarser grid starts at the cheapest step
    that was accurate enough on the finer one (smaller ones cost more there); where that step
    misses on the coarser grid, it takes finer steps until one matches (or a finer step no longer
    lowers the error by a tenth: the grid's own error dominates), and the ladder ends at a grid
    where no step tried matches (coarser grids only lose). ``attempt(params)`` runs one setting and
    returns (setting, mean relative L2, first-call seconds per sample), raising PdekitError when it
    cannot run; ``interval`` is the stored interval, which no time step exceeds (a larger dt would
    be the same setting again). Returns (rows, skipped, settings)."""
    base = dataclasses.asdict(problem.config)
    rows, skipped, settings = [], [], []
    dt = float(getattr(problem.config, "dt", 0) or 0)  # dt = 0: the problem picks its own stable step
    if dt:
        top = MAX_DT_DOUBLINGS
    elif tolerance:
        top = max(0, math.floor(math.log(LOOSEST_TOLERANCE / base[tolerance], 100) + 1e-9))
    else:
        top = 0
    cheapest = 0  # the cheapest step (its exponent) accurate enough on the finer grids

    def run(override: dict, k: int) -> float | None:
        """The error of step k on this grid (appended to rows), or None where it cannot run (to skipped)."""
        params = {**base, **override}
        if dt:
            params["dt"] = min(dt * 2**k, max(interval, dt))
        elif tolerance:
            params[tolerance] = base[tolerance] * 100**k
        described = _describe(params, tolerance)
        try:
            setting, error, seconds = attempt(params)
            if not math.isfinite(error):
                raise PdekitError("the solution is not finite")
        except PdekitError as exc:  # ConfigError, UnstableError: a too-large step or too-coarse grid
            skipped.append({**described, "reason": str(exc).split("; ")[0]})
            return None
        rows.append({**described, "rel_l2": error, "first_call_seconds": seconds})
        settings.append(setting)
        return error

    settings_tried = _settings(problem)
    for grid_index, override in enumerate(settings_tried if full else settings_tried[:1]):
        rows_before, matched = len(rows), False
        steps = list(range(cheapest, top + 1)) if full else [0]
        steps = [k for k in steps if k == steps[0] or not dt or dt * 2**k / 2 < interval]
        for j, k in enumerate(steps):
            error = run(override, k)
            if error is None:
                break
            if error <= surrogate_error:
                matched, cheapest = True, k
                continue
            for finer in (range(k - 1, -1, -1) if j == 0 else []):
                previous, error = error, run(override, finer)  # the finer grid's step misses: a finer one may match
                if error is None or error <= surrogate_error:
                    matched, cheapest = error is not None, finer
                    break
                if error > 0.9 * previous:
                    break  # a finer step barely helps: the grid's own error dominates
            break
        if len(rows) > rows_before and not matched:
            break  # no step on this grid matches: coarser grids only lose
        if not rows and grid_index == 0:
            break  # the data's own setting failed: nothing to compare
    return rows, skipped, settings


def solver_ladder(problem, seed: int, first: int, x_true: torch.Tensor, y_true: torch.Tensor,
                  target_time: int | slice | None, device: str, surrogate_error: float, full: bool = True,
                  input_time: int = 0):
    """The solver on the test samples ``first ..`` at the data's setting and (``full``) at cheaper
    ones until one is less accurate than ``surrogate_error``. Returns (rows, skipped, settings):
    rows hold the setting, its error (mean relative L2 against the stored targets, every field) and
    first-call seconds; skipped says why a setting did not run. ``x_true`` (the stored inputs; for
    time-dependent problems the slice at ``input_time``) checks that each setting solves them."""
    initial = input_time == 0 and not getattr(problem.config, "spinup", 0)
    count = len(y_true)
    indices = range(first, first + count)

    def attempt(params):
        setting = _Setting(problem, params, seed, indices, device, target_time)
        _check_inputs(problem, setting, x_true, initial)
        solution, seconds = _timed(setting.run)
        error = float(metrics.relative_l2(solution.cpu().double(), y_true).mean())
        return setting, error, seconds / count

    interval = problem.config.t_final / (problem.config.nt - 1) if hasattr(problem.config, "dt") else math.inf
    return ladder(problem, interval, surrogate_error, attempt, full, problem.iterative_tolerance(device))


class _StateSetting:
    """The stepper of one solver setting, ready to advance the timed start states (stored states,
    regridded to the setting's grid)."""

    def __init__(self, problem, params: dict, start: torch.Tensor, times: list[float], device, per_sample: dict):
        self.problem, self.grid, self.times = problem, params["solve_resolution"], times
        self.solver = get_problem(problem.name).from_params(min(self.grid, problem.resolution), params)
        on_grid = regrid(problem, start.double(), problem.resolution, self.grid).to(device)
        self.fields = {name: on_grid[:, i] for i, name in enumerate(problem.fields)}
        self.fields.update({name: torch.as_tensor(v, dtype=torch.float64, device=device) for name, v in per_sample.items()})

    def run(self) -> torch.Tensor:
        """The predicted states (samples, steps, channels, *space) on the stored grid, the start
        state left out, on the device: timed as a whole, interpolation included."""
        with torch.no_grad():
            states = self.solver.advance(self.fields, self.times)
            fields = [torch.stack(states[name][1:], dim=1) for name in self.problem.fields]
            return regrid(self.problem, torch.stack(fields, dim=2), self.grid, self.problem.resolution)


def state_ladder(problem, start: torch.Tensor, times, truth: torch.Tensor, surrogate_error: float,
                 device: str = "cpu", per_sample: dict | None = None, full: bool = True):
    """Settings of the solver from the data's down, each advancing ``start`` (samples, channels,
    *space; the stored state the surrogate starts from: a rollout's, or a later input slice's) to
    ``times`` (the start's time first), scored by the relative L2 over all of them against
    ``truth`` (samples, steps, channels, *space); ``per_sample``: the samples' own values of
    parameters that vary, {name: (samples,)}; ``full``: also the cheaper settings (else the data's
    only). Returns (rows, skipped, settings) as ``solver_ladder`` does."""
    rel_times = [float(t - times[0]) for t in times]

    def attempt(params):
        setting = _StateSetting(problem, params, start, rel_times, device, per_sample or {})
        states, seconds = _timed(setting.run)
        return setting, float(metrics.relative_l2(states.float().cpu(), truth).mean()), seconds / len(start)

    interval = min(b - a for a, b in zip(rel_times[:-1], rel_times[1:]))
    return ladder(problem, interval, surrogate_error, attempt, full)


def _after_the_start(problem, x: torch.Tensor, y: torch.Tensor, target_time, input_time: int, input_steps: int):
    """(start (k, fields, *space), times (start's first), truth (k, steps, fields, *space)) where the
    surrogate reads a stored state later than the one the solver's data run starts from (a later
    input slice, or data stored after a spin-up) and predicts only later times: the solver then
    starts from that state too, as a rollout's does, rather than being timed over the interval
    before it. None where the solver's own run is the task (input at the first stored time, no
    spin-up), the target reaches back to the input's time (a whole trajectory), or the problem is
    forced in time (``autonomous`` False: its step needs the forcing drawn with the inputs, which
    the data do not store)."""
    if problem is None or not problem.time_dependent or not problem.autonomous:
        return None  # (a problem forced in time: its whole solve is timed)
    last = input_time + (input_steps - 1 if isinstance(target_time, slice) else 0)  # the last slice read
    if last == 0 and not getattr(problem.config, "spinup", 0):
        return None
    t, fields = problem.times(), len(problem.fields)
    if isinstance(target_time, int):
        target = target_time % problem.config.nt
        return (x[:, :fields], [t[input_time], t[target]], y[:, None]) if target > input_time else None
    if isinstance(target_time, slice):  # the input_steps slices from input_time as channels, the times after them
        return x[:, input_steps - 1 : fields * input_steps : input_steps, 0], t[last:], y.movedim(2, 1)
    return None


def _time_rounds(calls: list, rounds: int) -> list[float]:
    """Median wall time of each call over ``rounds`` rounds that call each in turn."""
    times = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            times[i].append(_timed(call)[1])
    return [statistics.median(t) for t in times]


def speed_verdict(rows: list[dict], model_seconds: float, surrogate_error: float, skipped: list[dict] = ()) -> dict:
    """The matched-accuracy comparison: the cheapest solver setting at least as accurate as the
    surrogate, its speed ratio (``speedup``; ``speedup_is``: "measured" where the ladder crossed the
    surrogate's error, "an upper bound" where every setting tried was more accurate, so a cheaper
    one might match), and a sentence that says which is faster at equal accuracy, or why no ratio."""
    matched = [r for r in rows if r["rel_l2"] <= surrogate_error]
    out = {"speedup": None, "speedup_is": None, "matched_setting": None}
    if not math.isfinite(surrogate_error):
        out["speed_verdict"] = (f"The surrogate's error on the timed samples is {surrogate_error}: no solver setting "
                                f"can be matched to it.")
        return out
    if not rows:
        out["speed_verdict"] = ("The solver was not timed (no pdekit solver for this data)." if not skipped else
                                f"The solver could not run at the data's setting ({skipped[0]['reason']}).")
        return out
    if not matched:
        out["speed_verdict"] = (f"No solver setting tried reached the surrogate's error {surrogate_error:.3g}: "
                                f"the surrogate is more accurate than every setting timed.")
        return out
    best = min(matched, key=lambda r: r["seconds_per_sample"])
    ratio = best["seconds_per_sample"] / model_seconds
    name = setting_name(best)
    out["speedup"], out["matched_setting"] = ratio, best
    timing = (f"({name}, relative L2 {best['rel_l2']:.3g} against {surrogate_error:.3g}) takes "
              f"{best['seconds_per_sample']:.3g} s per sample, the surrogate {model_seconds:.3g} s.")
    if any(r["rel_l2"] > surrogate_error for r in rows):  # the ladder crossed the surrogate's error
        faster = (f"the surrogate is {ratio:.3g}x faster" if ratio >= 1
                  else f"the solver is {1 / ratio:.3g}x faster than the surrogate")
        out["speed_verdict"] = f"At equal accuracy {faster}: the cheapest solver setting as accurate as the surrogate {timing}"
        out["speedup_is"] = "measured"
    else:  # every setting was more accurate: a cheaper one might match the surrogate, so the ratio is a bound
        bound = (f"the surrogate is at most {ratio:.3g}x faster" if ratio >= 1
                 else f"the solver is at least {1 / ratio:.3g}x faster than the surrogate")
        out["speed_verdict"] = (f"Every solver setting tried was at least as accurate as the surrogate, so at equal "
                                f"accuracy {bound}: the cheapest setting tried {timing}")
        out["speedup_is"] = "an upper bound"
    return out


def compare_with_solver(trained, problem=None, seed: int = 0, first: int = 0, x: torch.Tensor | None = None,
                        y: torch.Tensor | None = None, target_time: int | slice | None = -1, input_time: int = 0,
                        ladder: bool = True, rounds: int = 5, input_steps: int = 1) -> dict:
    """The surrogate's speed against the solver at matched accuracy, on test samples ``first ..``
    of ``seed`` (``x``, ``y``: their stored inputs and targets, the samples to time).

    Parameters
    ----------
    trained : a TrainedModel (``fit``'s or a run's).
    problem : the pdekit Problem that made the data (None: time the surrogate alone).
    seed : the dataset seed of the test samples (the solver redraws their inputs from it).
    first : index of the first timed sample in the seed's stream.
    x, y : the timed samples' stored inputs and targets, (k, channels, *space); required despite
        the None defaults. For trajectories (``target_time`` None) ``x`` is (k, c, nt, *space),
        its input slice repeated in time.
    target_time : the target's time index (None: whole trajectories, ``x`` their first slice; a
        slice: those stored times, ``x`` the ``input_steps`` slices before them as channels).
    input_time : time index of the stored input slice, non-negative; only at 0 (and without a
        spin-up) are a time-dependent problem's redrawn initial fields checked against ``x``.
    ladder : also run the solver at cheaper settings (else only at the data's setting).
    rounds : alternating timing rounds of the surrogate and every solver setting; medians reported.
    input_steps : input slices per field in ``x`` (trajectory targets; data.input_steps).

    Returns
    -------
    dict : ``speedup`` (cheapest solver setting as accurate as the surrogate, over the surrogate's
    time), ``speed_verdict`` (one sentence), ``solver_ladder`` rows, ``solver_ladder_skipped``,
    seconds per sample of each, the surrogate's error on these samples (``timed_rel_l2``).
    """
    k = len(x)
    # the surrogate is timed as the solver is: inputs already on the device, outputs left there
    x_timed = x.to(trained.device)
    trained.model.eval()

    def predict():
        with torch.no_grad():
            return trained.y_normalizer.decode(trained.model(trained.x_normalizer.encode(x_timed)))

    model_first = _timed(predict)[1] / k  # before any other call: warm-up and compilation included
    surrogate_error = float(metrics.relative_l2(trained.predict(x), y).mean())
    rows, skipped, settings, later = [], [], [], None
    if problem is not None and math.isfinite(surrogate_error):  # nothing to match a non-finite error to
        later = _after_the_start(problem, x, y, target_time, input_time, input_steps)
        if later is None:
            # the stored fields or inputs, before the channels of parameters drawn per sample; a trajectory's
            # input is repeated in time, and with several input steps each field's first is its slice
            x_stored = x[:, : x.shape[1] - len(problem.sample_params)]
            x_stored = x_stored if isinstance(target_time, int) else x_stored[:, ::input_steps, 0]
            rows, skipped, settings = solver_ladder(problem, seed, first, x_stored, y, target_time, trained.device.type,
                                                    surrogate_error, full=ladder, input_time=input_time)
        else:  # the solver starts from the state the surrogate reads, not from the drawn initial state
            start, times, truth = later
            drawn = draw_inputs(problem, seed, range(first, first + k)) if problem.sample_params else {}
            per_sample = {name: drawn[name] for name in problem.sample_params}
            rows, skipped, settings = state_ladder(problem, start, times, truth, surrogate_error,
                                                   trained.device.type, per_sample, full=ladder)
    medians = _time_rounds([predict] + [s.run for s in settings], rounds)
    for row, seconds in zip(rows, medians[1:]):
        row["seconds_per_sample"] = seconds / k
    model_time = medians[0] / k
    data_solver = rows[0]["seconds_per_sample"] if rows else None
    return {
        "solver_seconds_per_sample": data_solver,
        "model_seconds_per_sample": model_time,
        "model_first_call_seconds_per_sample": model_first,
        "timed_samples": k,
        "timed_rel_l2": surrogate_error,
        "solver_from_stored_state": later is not None,
        "solver_device": (problem.solver_device or trained.device.type) if problem else None,
        "threads": torch.get_num_threads(),
        **speed_verdict(rows, model_time, surrogate_error, skipped),
        "speedup_at_data_setting": data_solver / model_time if data_solver else None,
        "solver_ladder": rows,
        "solver_ladder_skipped": skipped,
    }


def _summary(pred: torch.Tensor, true: torch.Tensor, data) -> dict:
    """``metrics.summary``; for space-time targets (``data.trajectory``) the relative L2 stays per
    sample over the whole trajectory (the FNO and PINO papers'), while rmse, nrmse, max_error and
    the fRMSE bands are taken per predicted time step over space, as PDEBench does, with the
    input frame (part of the target where one slice is read) left out."""
    out = metrics.summary(pred, true)
    if data.trajectory:
        nt = true.shape[2]  # every stored time with one input slice; only the later ones with several
        frames = [t for t in range(nt) if data.input_steps > 1 or t != data.input_time % nt]

        def steps(z):  # (n, c, nt, *space) -> (n * predicted steps, c, *space)
            return z[:, :, frames].movedim(2, 1).flatten(0, 1)

        per_step = metrics.summary(steps(pred), steps(true))
        out.update({k: v for k, v in per_step.items() if k not in ("rel_l2", "median_rel_l2")})
    return out


def evaluate(trained, recipe, test_file, transfer_files: dict, rounds: int | None = None,
             held_out_file=None) -> tuple[dict, tuple]:
    """Metrics of a trained model on ``test_file`` and the speed comparison; returns (results,
    (x_test, y_test, pred)) and writes nothing.

    The surrogate is timed first (so its first call is its first call), on the first
    ``recipe.eval.timing_samples`` test samples, against the solver that made the data (pdekit
    files only).

    Parameters
    ----------
    trained : TrainedModel
        The trained model with its normalizers.
    recipe : Recipe
        The operator recipe it was trained with (its ``data`` and ``eval`` sections are used).
    test_file : str or Split
        The test samples, in any layout pdekit reads.
    transfer_files : dict
        ``{resolution: file}``: the same test samples stored on finer grids.
    rounds : int or None
        Timing rounds (None: ``recipe.eval.timing_rounds``).
    held_out_file : str or None
        Test samples made with ``recipe.eval.held_out``'s parameters, scored as ``held_out``.

    Returns
    -------
    results : dict
        ``metrics.summary`` of the test split (``rel_l2`` renamed ``test_rel_l2``), the speed
        comparison (see ``compare_with_solver``), ``params``, ``train_seconds``, ``train_processes``
        (the process count of each session that trained it, None where unrecorded), ``epochs``,
        ``weights_epoch``, ``val_rel_l2``, ``resolution``, ``resolution_transfer`` (the mean relative
        L2 by resolution, keys as text), ``held_out`` (with eval.held_out: its parameters and the
        mean and median relative L2 and nRMSE there), ``device``, ``recipe`` and ``data_layout``.
    arrays : tuple of torch.Tensor
        (x_test, y_test, pred), each (n, channels, *space).
    """
    d = recipe.data
    x_test, y_test, meta = load_task(test_file, d)
    k = min(recipe.eval.timing_samples, len(x_test))
    cfg = meta["config"]
    problem = None
    if meta["problem"] is not None:  # pdekit's own data: run the solver that made it
        problem = get_problem(cfg["problem"]).from_params(cfg["resolution"], cfg["params"])
    input_time = d.input_time % problem.config.nt if problem is not None and problem.time_dependent else 0
    target = d.target_time if not d.trajectory else None if d.input_steps == 1 else slice(input_time + d.input_steps, None)
    # first, so that the surrogate's first call is its first call
    speed = compare_with_solver(
        trained, problem, cfg.get("seed", 0), cfg.get("first", 0) + getattr(test_file, "start", 0), x_test[:k],
        y_test[:k], target, input_time, ladder=recipe.eval.solver_ladder, rounds=rounds or recipe.eval.timing_rounds,
        input_steps=d.input_steps)
    pred = trained.predict(x_test)
    results = _summary(pred, y_test, d)
    results["test_rel_l2"] = results.pop("rel_l2")
    transfer = {}
    for res, path in sorted(transfer_files.items()):
        xt, yt, _ = load_task(path, d)
        transfer[int(res)] = float(metrics.relative_l2(trained.predict(xt), yt).mean())
    if held_out_file is not None:
        xh, yh, _ = load_task(held_out_file, d)
        scores = _summary(trained.predict(xh), yh, d)
        results["held_out"] = {"params": dict(recipe.eval.held_out), "rel_l2": scores["rel_l2"],
                               "median_rel_l2": scores["median_rel_l2"], "nrmse": scores["nrmse"]}
    weights_epoch = trained.epoch or len(trained.history)
    val = trained.row(weights_epoch).get("val_rel_l2")  # None: an older run
    results.update({
        "params": count_parameters(trained.model),
        "train_seconds": trained.train_seconds,
        "train_processes": trained.processes or None,
        "epochs": int(trained.history[-1]["epoch"]) if trained.history else 0,
        "weights_epoch": weights_epoch,
        "val_rel_l2": val,
        **speed,
        "resolution": cfg["resolution"],
        "resolution_transfer": {str(r): e for r, e in transfer.items()},
        "device": trained.device.type,
        "recipe": recipe.name,
        "data_layout": meta["layout"],
    })
    return results, (x_test, y_test, pred)
