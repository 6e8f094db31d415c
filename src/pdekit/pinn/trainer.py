"""Training a PINN: collocation sampling and resampling (RAR, RAD), loss balancing (fixed weights or
learning-rate annealing), Adam then L-BFGS (float64 by default) that reports why it stopped,
per-interval metrics, atomic checkpoints with resume, and a stop on NaN that keeps the last good
checkpoint."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from pdekit.config import make_config, param, require
from pdekit.errors import DataFileError, PdekitError
from pdekit.pinn.core import PINN
from pdekit.pinn.geometry import SAMPLERS
from pdekit.train.checkpoint import load_checkpoint, save_checkpoint


class PinnDiverged(PdekitError):
    pass


@dataclass(frozen=True)
class PinnTrainConfig:
    collocation: int = param(8000, "interior collocation points")
    condition_points: int = param(400, "points per sampled condition (boundary, initial, periodic)")
    sampler: str = param("sobol", "collocation sampler", SAMPLERS)
    adam_steps: int = param(2000, "Adam steps (first phase)")
    adam_lr: float = param(1e-3, "Adam learning rate")
    lbfgs_steps: int = param(5000, "L-BFGS iterations (second phase; 0: none)")
    lbfgs_dtype: str = param("float64", "precision of the L-BFGS phase", ("float64", "float32"))
    lbfgs_history: int = param(50, "L-BFGS history size")
    balancing: str = param("fixed", "loss weights: the conditions' own, or learning-rate annealing", ("fixed", "lra"))
    lra_alpha: float = param(0.1, "learning-rate annealing: moving-average factor")
    balance_every: int = param(100, "Adam steps between weight updates (lra)")
    resample: str = param("none", "collocation refinement during Adam", ("none", "rar", "rad"))
    resample_every: int = param(500, "Adam steps between refinements")
    rar_points: int = param(200, "RAR: points of largest residual added per refinement")
    rad_k: float = param(1.0, "RAD: density proportional to residual^k / mean + c")
    rad_c: float = param(1.0, "RAD: the constant c")
    seed: int = param(0, "seed of the points and the initialization")
    max_seconds: float = param(0.0, "stop after this many seconds of training (0: no limit)")
    log_every: int = param(100, "steps between metrics rows and checkpoints")
    threads: int = param(0, "torch CPU threads (0: torch's default)")
    compile: bool = param(False, "fuse the Taylor pass with torch.compile (about 10 s once; pays on long runs)")

    def validate(self):
        require(self.collocation >= 1 and self.condition_points >= 1, "collocation and condition_points must be >= 1")
        require(self.adam_steps >= 0 and self.lbfgs_steps >= 0 and self.adam_steps + self.lbfgs_steps > 0,
                "adam_steps and lbfgs_steps must be >= 0, and not both 0")
        require(self.adam_lr > 0 and self.log_every >= 1 and self.resample_every >= 1 and self.balance_every >= 1,
                "adam_lr, log_every, resample_every and balance_every must be positive")


def make_train_config(overrides: dict | None = None) -> PinnTrainConfig:
    return make_config(PinnTrainConfig, overrides or {}, owner="PINN training")


class _Points:
    """Collocation and condition points as tensors in the current precision."""

    def __init__(self, pinn: PINN, cfg: PinnTrainConfig, rng: np.random.Generator):
        self.interior = pinn.domain.sample_interior(cfg.collocation, cfg.sampler, rng)
        self.conditions = [c.sample(pinn.domain, cfg.condition_points, rng) if not c.hard else None
                           for c in pinn.conditions]

    @property
    def interior(self) -> np.ndarray:
        return self._interior

    @interior.setter
    def interior(self, x: np.ndarray) -> None:  # refinement and resume replace the points
        self._interior, self._cached = x, None

    def batch(self, pinn: PINN, dtype) -> tuple:
        """(points through the network, rows of each condition on values there, other condition
        points): the interior points and those of conditions on values (Dirichlet, initial,
        observations) go through the network in one pass, since on small batches the passes, not the
        points, cost the time. Cached until the points or the precision change, so that the PINN can
        keep what it computed for the same points."""
        if self._cached is None or self._cached[0].dtype != dtype:
            t = lambda a: None if a is None else torch.as_tensor(a, dtype=dtype)  # noqa: E731
            parts, rows, others = [t(self.interior)], {}, {}
            start = len(self.interior)
            for i, (c, xc) in enumerate(zip(pinn.conditions, self.conditions)):
                if xc is None:
                    continue
                if c.on_values:
                    parts.append(t(xc))
                    rows[i] = slice(start, start + len(xc))
                    start += len(xc)
                else:
                    others[i] = t(xc)
            self._cached = (torch.cat(parts), rows, others)
        return self._cached


def loss_terms(pinn: PINN, batch: tuple, compiled: bool = False) -> list[torch.Tensor]:
    """[mean squared residual, mean squared violation of each soft condition] (see _Points.batch)."""
    xs, rows, others = batch
    n = xs.shape[0] - sum(r.stop - r.start for r in rows.values())
    u, r = pinn.evaluate(xs, compiled)
    terms = [r[:n].pow(2).mean()]
    for i, c in enumerate(pinn.conditions):
        if i in rows:
            terms.append(c.value_residual(u[rows[i]], xs[rows[i]]).pow(2).mean())
        elif i in others:
            terms.append(c.residual(pinn, others[i].clone()).pow(2).mean())
    return terms


def _lra_update(pinn, terms, weights, alpha):
    """Wang, Teng and Perdikaris (2021): lambda_i <- (1 - a) lambda_i + a max|grad L_r| / mean|grad L_i|."""
    params = [p for p in pinn.parameters() if p.requires_grad]
    g_r = torch.autograd.grad(terms[0], params, retain_graph=True, allow_unused=True)
    top = max(float(g.abs().max()) for g in g_r if g is not None)
    for i, term in enumerate(terms[1:], start=1):
        g_i = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        mean = torch.cat([g.abs().flatten() for g in g_i if g is not None]).mean()
        if float(mean) > 0:
            weights[i] = (1 - alpha) * weights[i] + alpha * top / float(mean)


def _refine(pinn, points, cfg, rng, dtype):
    """RAR adds the candidates of largest residual; RAD redraws the collocation set with density
    proportional to |r|^k / mean + c (Wu et al. 2023)."""
    candidates = pinn.domain.sample_interior(10 * cfg.collocation if cfg.resample == "rad" else 20 * cfg.rar_points,
                                             "uniform", rng)
    r = pinn.pde_residual(torch.as_tensor(candidates, dtype=dtype)).detach().abs().sum(1).cpu().numpy()
    if cfg.resample == "rar":
        points.interior = np.concatenate([points.interior, candidates[np.argsort(r)[-cfg.rar_points:]]])
    else:
        density = r**cfg.rad_k / max((r**cfg.rad_k).mean(), 1e-300) + cfg.rad_c
        idx = rng.choice(len(candidates), size=cfg.collocation, replace=False, p=density / density.sum())
        points.interior = candidates[idx]


GRADIENT_TOLERANCE, CHANGE_TOLERANCE = 1e-12, 1e-16
LINE_SEARCH_EVALUATIONS = 26  # torch's strong-Wolfe search: its first evaluation and max_ls = 25 more


def make_lbfgs(params, history_size: int) -> torch.optim.LBFGS:
    """The trainer's L-BFGS (strong-Wolfe line search); ``lbfgs_chunk`` sets its iterations per step."""
    return torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=history_size, line_search_fn="strong_wolfe",
                             tolerance_grad=GRADIENT_TOLERANCE, tolerance_change=CHANGE_TOLERANCE)


def lbfgs_chunk(lbfgs: torch.optim.LBFGS, closure, iterations: int) -> tuple[int, str]:
    """Up to ``iterations`` L-BFGS iterations in one step; returns (iterations done, why L-BFGS stopped
    itself: "" unless a tolerance was met). torch fixes max_eval (max_iter * 5 // 4) at construction and
    ends a step when the evaluations run out, so each chunk gets evaluations for all its iterations'
    line searches; if they still run out, the caller just goes on with the next chunk."""
    group = lbfgs.param_groups[0]
    group["max_iter"], group["max_eval"] = iterations, 1 + iterations * LINE_SEARCH_EVALUATIONS
    state = lbfgs.state[group["params"][0]]
    before = state.get("n_iter", 0)
    lbfgs.step(closure)
    ran = state["n_iter"] - before
    if ran == iterations:
        return ran, ""
    # which of torch's tests ended the step, checked again at the final point (one more evaluation)
    loss = float(closure().detach())
    gradient = max((float(p.grad.abs().max()) for p in group["params"] if p.grad is not None), default=0.0)
    if gradient <= group["tolerance_grad"]:
        return ran, f"L-BFGS converged: gradient below {group['tolerance_grad']:g}"
    tol, d, t = group["tolerance_change"], state["d"], state["t"]
    if (float(d.mul(t).abs().max()) <= tol or abs(loss - state["prev_loss"]) < tol
            or float(state["prev_flat_grad"].dot(d)) > -tol):
        return ran, f"L-BFGS made no further progress (change below {tol:g}, gradient {gradient:.1e})"
    return ran, ""


def _setup_json(identity: str, cfg: PinnTrainConfig) -> str:
    """The checkpoint's "recipe": one JSON document, the setup ``identity`` names with the training
    configuration as its "train" section."""
    setup = json.loads(identity) if identity else {}
    if not isinstance(setup, dict):
        raise PdekitError(f"train_pinn: identity must be a JSON object, got {identity[:80]!r}")
    return json.dumps({**setup, "train": asdict(cfg)}, sort_keys=True)


def checkpoint_setup(saved: dict, path: str) -> dict:
    """The setup a PINN checkpoint was trained with (see _setup_json), refusing an older pdekit's
    checkpoint: its "recipe" held two JSON documents back to back, and it kept no Adam time."""
    try:
        setup = json.loads(saved["recipe"])
    except json.JSONDecodeError:
        setup = None
    if not isinstance(setup, dict) or "adam_seconds" not in saved:
        raise DataFileError(f"'{path}' is a PINN checkpoint of an older pdekit, which this one cannot read; "
                            "train the run again (delete its folder or choose another --out)")
    return setup


def _lbfgs_dtype(cfg: PinnTrainConfig) -> torch.dtype:
    return torch.float64 if cfg.lbfgs_dtype == "float64" else torch.float32


def _load_model(pinn: PINN, saved: dict, cfg: PinnTrainConfig) -> None:
    if saved["phase"] == "lbfgs":  # the weights are in L-BFGS precision from then on
        pinn.to(_lbfgs_dtype(cfg))
    pinn.load_state_dict(saved["model"])


def _summary(pinn: PINN, cfg: PinnTrainConfig, state: dict) -> dict:
    final = state["history"][-1] if state["history"] else {}
    adam_seconds = state["adam_seconds"]
    return {"loss": final.get("loss"), "seconds": state["seconds"], "steps": state["step"],
            "adam_steps_per_second": min(state["step"], cfg.adam_steps) / adam_seconds if adam_seconds else None,
            "stop_reason": state["stop_reason"], "history": state["history"],
            "coefficients": {k: float(v.detach()) for k, v in pinn.coefficients.items()}}


def restore_pinn(pinn: PINN, saved: dict, cfg: PinnTrainConfig) -> dict:
    """Load a checkpoint's weights into ``pinn`` (built as for training); returns what train_pinn
    returned when it wrote the checkpoint."""
    _load_model(pinn, saved, cfg)
    return _summary(pinn, cfg, {"step": int(saved["step"]), "seconds": float(saved["seconds"]),
                                "adam_seconds": float(saved["adam_seconds"]), "history": json.loads(saved["history"]),
                                "stop_reason": saved.get("stop_reason") or "training was interrupted"})


def train_pinn(pinn: PINN, cfg: PinnTrainConfig | dict | None = None, run_dir: str | None = None,
               quiet: bool = False, identity: str = "") -> dict:
    """Train ``pinn`` in place; with ``run_dir``, write metrics.csv and checkpoint.pt there and resume
    from an existing checkpoint of the same ``identity`` (the setup as a JSON object)."""
    cfg = cfg if isinstance(cfg, PinnTrainConfig) else make_train_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    points = _Points(pinn, cfg, rng)
    weights = [1.0] + [c.weight for c in pinn.conditions if not c.hard]
    state = {"phase": "adam", "step": 0, "seconds": 0.0, "adam_seconds": 0.0, "history": [], "stop_reason": ""}
    ckpt = os.path.join(run_dir, "checkpoint.pt") if run_dir else None
    lbfgs_dtype = _lbfgs_dtype(cfg)
    adam = torch.optim.Adam(pinn.parameters(), lr=cfg.adam_lr, foreach=True)
    lbfgs_state = None
    setup = _setup_json(identity, cfg)
    if ckpt and os.path.exists(ckpt):
        saved = load_checkpoint(ckpt)
        checkpoint_setup(saved, ckpt)
        if saved["recipe"] != setup:
            raise PdekitError(f"'{run_dir}' holds a PINN run of another setup; choose another --out or delete it")
        _load_model(pinn, saved, cfg)
        if saved["phase"] == "adam":
            adam.load_state_dict(saved["optimizer"])
        else:
            lbfgs_state = saved["optimizer"]
        points.interior = saved["interior"].numpy()
        points.conditions = [None if a.numel() == 0 else a.numpy() for a in saved["condition_points"]]
        weights = list(saved["weights"])
        rng.bit_generator.state = json.loads(saved["rng"])
        torch.set_rng_state(saved["torch_rng"])
        state.update(phase=saved["phase"], step=int(saved["step"]), seconds=float(saved["seconds"]),
                     adam_seconds=float(saved["adam_seconds"]), history=json.loads(saved["history"]))

    def save():
        if not ckpt:
            return
        os.makedirs(run_dir, exist_ok=True)
        opt = adam.state_dict() if state["phase"] == "adam" else lbfgs.state_dict()
        save_checkpoint(ckpt, {
            "model": pinn.state_dict(), "optimizer": opt, "recipe": setup,
            "phase": state["phase"], "step": state["step"], "seconds": state["seconds"],
            "adam_seconds": state["adam_seconds"], "stop_reason": state["stop_reason"],
            "interior": torch.as_tensor(points.interior),
            "condition_points": [torch.empty(0) if a is None else torch.as_tensor(a) for a in points.conditions],
            "weights": weights, "rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
            "history": json.dumps(state["history"]),
        })
        _write_csv(os.path.join(run_dir, "metrics.csv"), state["history"])

    def record(terms, total):
        row = {"phase": state["phase"], "step": state["step"], "loss": total, "residual": float(terms[0].detach()),
               "conditions": sum(float(t.detach()) for t in terms[1:]), "seconds": round(state["seconds"], 3)}
        row.update({k: float(v.detach()) for k, v in pinn.coefficients.items()})
        state["history"].append(row)
        return row

    def check(total, where):
        if not math.isfinite(total):
            raise PinnDiverged(f"the PINN loss became {total} at {where}; the last good checkpoint is kept"
                               f"{' in ' + run_dir if run_dir else ''}: lower adam_lr (now {cfg.adam_lr:g})")

    total_steps = cfg.adam_steps + cfg.lbfgs_steps
    bar = tqdm(total=total_steps, initial=state["step"], unit="step", disable=quiet, file=sys.stderr,
               dynamic_ncols=True, desc="pinn")
    out_of_time = lambda: cfg.max_seconds and state["seconds"] >= cfg.max_seconds  # noqa: E731

    # --- Adam --------------------------------------------------------------------------------
    dtype = next(pinn.parameters()).dtype
    params = [p for p in pinn.parameters() if p.requires_grad]
    while state["phase"] == "adam" and state["step"] < cfg.adam_steps and not out_of_time():
        started = time.perf_counter()
        terms = loss_terms(pinn, points.batch(pinn, dtype), cfg.compile)
        if cfg.balancing == "lra" and state["step"] % cfg.balance_every == 0 and len(terms) > 1:
            _lra_update(pinn, terms, weights, cfg.lra_alpha)
        loss = sum(w * t for w, t in zip(weights, terms))
        adam.zero_grad(set_to_none=True)
        loss.backward(inputs=params)  # not into the points
        adam.step()
        state["step"] += 1
        elapsed = time.perf_counter() - started
        state["seconds"] += elapsed
        state["adam_seconds"] += elapsed  # kept apart for the Adam speed, also across a resume
        total = float(loss.detach())
        check(total, f"Adam step {state['step']}")
        if cfg.resample != "none" and state["step"] % cfg.resample_every == 0:
            _refine(pinn, points, cfg, rng, dtype)
        bar.update(1)
        if state["step"] % cfg.log_every == 0 or state["step"] == cfg.adam_steps:
            bar.set_postfix(loss=f"{record(terms, total)['loss']:.3g}")
            save()
    if state["phase"] == "adam":
        state["phase"] = "lbfgs"
        pinn.to(lbfgs_dtype)

    # --- L-BFGS ------------------------------------------------------------------------------
    lbfgs = make_lbfgs(pinn.parameters(), cfg.lbfgs_history)
    if lbfgs_state is not None:
        lbfgs.load_state_dict(lbfgs_state)
    batch = points.batch(pinn, lbfgs_dtype)
    last = {}

    def closure():
        lbfgs.zero_grad(set_to_none=True)
        terms = loss_terms(pinn, batch, cfg.compile)
        loss = sum(w * t for w, t in zip(weights, terms))
        loss.backward(inputs=params)
        last["terms"], last["loss"] = terms, float(loss.detach())
        return loss

    done = state["step"] - cfg.adam_steps
    while state["phase"] == "lbfgs" and cfg.lbfgs_steps > 0:
        if done >= cfg.lbfgs_steps:
            state["stop_reason"] = f"L-BFGS reached its {cfg.lbfgs_steps} iterations"
            break
        if out_of_time():
            state["stop_reason"] = f"time budget of {cfg.max_seconds:g} s reached"
            break
        chunk = min(cfg.log_every, cfg.lbfgs_steps - done)
        if cfg.max_seconds and last.get("per_iteration"):  # end the last chunk inside the time budget
            chunk = max(1, min(chunk, int((cfg.max_seconds - state["seconds"]) / last["per_iteration"])))
        started = time.perf_counter()
        ran, reason = lbfgs_chunk(lbfgs, closure, chunk)
        state["seconds"] += time.perf_counter() - started
        last["per_iteration"] = (time.perf_counter() - started) / max(ran, 1)
        done += ran
        state["step"] = cfg.adam_steps + done
        check(last["loss"], f"L-BFGS iteration {done}")
        bar.update(ran)
        bar.set_postfix(loss=f"{record(last['terms'], last['loss'])['loss']:.3g}")
        save()
        if reason:
            state["stop_reason"] = reason
            break
    bar.close()
    if not state["stop_reason"]:
        state["stop_reason"] = ("time budget of {:g} s reached".format(cfg.max_seconds) if out_of_time()
                                else f"Adam finished its {cfg.adam_steps} steps")
    save()  # the final weights and why training stopped, also when the time ran out between checkpoints
    return _summary(pinn, cfg, state)


def _write_csv(path: str, history: list[dict]) -> None:
    if not history:
        return
    keys = list(dict.fromkeys(k for row in history for k in row))
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    os.replace(tmp, path)
