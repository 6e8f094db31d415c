"""Physics-informed training as a task of the one Trainer: collocation points and their refinement
(RAR, RAD), the mean squared PDE residual and condition misfits, and loss balancing (the conditions'
own weights or learning-rate annealing). The Trainer runs Adam, then L-BFGS (float64 by default),
with checkpoints, resume, a time budget and a stop on NaN; one epoch is one step on all the points.

    fit(pinn, PinnTask(), epochs=2000, lbfgs_steps=5000, collocation=8000)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import param, require
from pdekit.errors import ConfigError
from pdekit.pinn.core import PINN
from pdekit.pinn.geometry import SAMPLERS
from pdekit.train.task import Task, register_task


@dataclass(frozen=True)
class PinnConfig:
    collocation: int = param(8000, "interior collocation points")
    condition_points: int = param(400, "points per sampled condition (boundary, initial, periodic)")
    sampler: str = param("sobol", "collocation sampler", SAMPLERS)
    balancing: str = param("fixed", "loss weights: the conditions' own, or learning-rate annealing", ("fixed", "lra"))
    lra_alpha: float = param(0.1, "learning-rate annealing: moving-average factor")
    balance_every: int = param(100, "Adam steps between weight updates (lra)")
    resample: str = param("none", "collocation refinement during Adam", ("none", "rar", "rad"))
    resample_every: int = param(500, "Adam steps between refinements")
    rar_points: int = param(200, "RAR: points of largest residual added per refinement")
    rad_k: float = param(1.0, "RAD: density proportional to residual^k / mean + c")
    rad_c: float = param(1.0, "RAD: the constant c")

    def validate(self):
        """Check the counts (>= 1), lra_alpha in (0, 1] and RAD's k and c (>= 0)."""
        require(self.collocation >= 1 and self.condition_points >= 1, "collocation and condition_points must be >= 1")
        require(self.resample_every >= 1 and self.balance_every >= 1 and self.rar_points >= 1,
                "resample_every, balance_every and rar_points must be >= 1")
        require(0 < self.lra_alpha <= 1, f"lra_alpha must lie in (0, 1], got {self.lra_alpha}")
        require(self.rad_k >= 0 and self.rad_c >= 0, f"rad_k and rad_c must be >= 0, got {self.rad_k} and {self.rad_c}")


class _Points:
    """Collocation and condition points as tensors in the current precision."""

    def __init__(self, pinn: PINN, cfg: PinnConfig, rng: np.random.Generator):
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
    """[mean squared residual, mean squared violation of each soft condition] (see _Points.batch);
    a process's share of the points (``shard_points``) scales each term by its ``scales`` entry."""
    xs, rows, others = batch[:3]
    scales = batch[3] if len(batch) > 3 else {}
    n = xs.shape[0] - sum(r.stop - r.start for r in rows.values())
    u, r = pinn.evaluate(xs, compiled)
    if n < len(xs) and not bool(torch.isfinite(r[n:].detach()).all()):
        # the residual is singular at a condition's point (u'/x at x = 0): those rows are not in the
        # loss, but their inf would still make the gradient NaN; the interior and the conditions'
        # values then go through in two passes
        u_interior, r = pinn.evaluate(xs[:n], compiled)
        u = torch.cat([u_interior, pinn(xs[n:])])
    terms = [r[:n].pow(2).mean() * scales.get("interior", 1.0)]
    for i, c in enumerate(pinn.conditions):
        if i in rows:
            terms.append(c.value_residual(u[rows[i]], xs[rows[i]]).pow(2).mean() * scales.get(i, 1.0))
        elif i in others:
            terms.append(c.residual(pinn, others[i].clone()).pow(2).mean() * scales.get(i, 1.0))
    return terms


def shard_points(batch: tuple, rank: int, world: int) -> tuple:
    """Process ``rank``'s share of a batch of points: every world-th interior collocation point, from
    the rank-th, with the residual term scaled by world x (its share of the points), so that the
    mean of the processes' gradients is the one-process gradient of the mean square residual. The
    conditions' points (fewer, and some carry observed values point by point) stay whole in every
    process, unscaled: their gradients are equal everywhere, so their mean is exact too."""
    xs, rows, others = batch
    n = xs.shape[0] - sum(r.stop - r.start for r in rows.values())
    if n < world:
        raise ConfigError(f"train.collocation ({n} points) must give every process ({world}) at least one point")
    share = xs[:n][rank::world]
    shift = len(share) - n
    moved = {i: slice(r.start + shift, r.stop + shift) for i, r in rows.items()}
    return torch.cat([share, xs[n:]]), moved, others, {"interior": world * len(share) / n}


def _lra_update(pinn, terms, weights, alpha, world: int = 1):
    """Wang, Teng and Perdikaris (2021): lambda_i <- (1 - a) lambda_i + a max|grad L_r| / mean|grad L_i|,
    gradients with respect to the network's parameters (not an inverse problem's PDE coefficients,
    whose gradient can be larger by orders), each averaged over the processes first (so they keep
    equal weights)."""
    coefficients = {id(p) for p in pinn.coefficients.parameters()}
    params = [p for p in pinn.parameters() if p.requires_grad and id(p) not in coefficients]

    def grad(term):
        g = [x for x in torch.autograd.grad(term, params, retain_graph=True, allow_unused=True) if x is not None]
        if world > 1:
            import torch.distributed as dist

            flat = torch.cat([x.flatten() for x in g])
            dist.all_reduce(flat)
            return [flat / world]
        return g

    top = max(float(g.abs().max()) for g in grad(terms[0]))
    for i, term in enumerate(terms[1:], start=1):
        mean = torch.cat([g.abs().flatten() for g in grad(term)]).mean()
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
        scaled = (r.astype(np.float64) / max(float(r.max()), 1e-300)) ** cfg.rad_k  # in [0, 1]: no overflow at large k
        density = scaled / max(scaled.mean(), 1e-300) + cfg.rad_c
        if np.count_nonzero(density) < cfg.collocation:  # rad_c = 0 and large k: too few candidates count at all
            density = np.maximum(density, 1e-12 * max(density.max(), 1.0))  # the rest then drawn uniformly
        idx = rng.choice(len(candidates), size=cfg.collocation, replace=False, p=density / density.sum())
        points.interior = candidates[idx]



@register_task
class PinnTask(Task):
    """Train a ``PINN`` (pdekit.pinn.core) on its residual and conditions.

    The loss is the weighted sum of the mean square PDE residual at the collocation points and the
    mean square violation of each soft condition. Options: residual-based refinement of the
    collocation points, RAR or RAD (Wu et al. 2023), and learning-rate annealing of the loss weights
    (Wang, Teng and Perdikaris 2021).

    Parameters
    ----------
    config : PinnConfig (the ``train`` keys collocation, condition_points, sampler, balancing,
        resample, ...; docs/pinn.md), or None for the defaults (``fit`` fills it from its options).

    The model given to the Trainer must be the PINN itself; ``fit`` returns a summary dict: final
    ``loss``, ``seconds``, ``steps``, ``adam_steps_per_second``, ``stop_reason``, ``history`` and the
    trained ``coefficients``.
    """

    name = "pinn"
    Config = PinnConfig
    full_batch = True
    train_defaults = {"epochs": 2000, "lr": 1e-3, "weight_decay": 0.0, "scheduler": "none", "lbfgs_steps": 5000,
                      "log_every": 100, "device": "cpu"}

    world = 1  # processes sharing the points (set by ``shard`` under torchrun)

    def __init__(self, config: PinnConfig | None = None):
        self.config = config or PinnConfig()
        self._shard = None  # (the batch, this process's share of it)

    @classmethod
    def check_train_config(cls, cfg, task_cfg):
        super().check_train_config(cfg, task_cfg)
        if cfg.device != "cpu" or cfg.amp != "none":
            raise ConfigError("PINN training runs on the CPU in full precision: leave train.device and train.amp "
                              "at their defaults")

    def setup(self, model, cfg, device):
        if not isinstance(model, PINN):
            raise ConfigError(f"the pinn task trains a pdekit.pinn.PINN, got {type(model).__name__}")
        self.pinn, self.compile, self.epochs = model, cfg.compile, cfg.epochs
        self.rng = np.random.default_rng(cfg.seed)
        self.points = _Points(model, self.config, self.rng)
        self.weights = [1.0] + [c.weight for c in model.conditions if not c.hard]

    def batches(self, epoch, dtype):
        yield self.points.batch(self.pinn, dtype)

    def shard(self, batch, rank, world):
        """This process's share of the points (``shard_points``), kept while the points stay the same."""
        if self._shard is None or self._shard[0] is not batch:
            self._shard = (batch, shard_points(batch, rank, world))
            self.world = world
        return self._shard[1]

    def loss(self, model, batch, step):
        terms = loss_terms(model, batch, self.compile)
        c = self.config
        if step is not None and c.balancing == "lra" and step % c.balance_every == 0 and len(terms) > 1:
            _lra_update(model, terms, self.weights, c.lra_alpha, self.world)
        loss = sum(w * t for w, t in zip(self.weights, terms))
        return loss, {"residual": float(terms[0].detach()), "conditions": sum(float(t.detach()) for t in terms[1:])}

    def after_step(self, model, epoch):
        if self.config.resample != "none" and epoch % self.config.resample_every == 0:
            _refine(model, self.points, self.config, self.rng, next(model.parameters()).dtype)

    def validate(self, model):
        return {k: float(v.detach()) for k, v in model.coefficients.items()}  # a coefficient's path in training

    def state_dict(self):
        return {"interior": torch.as_tensor(self.points.interior),
                "condition_points": [torch.empty(0) if a is None else torch.as_tensor(a) for a in self.points.conditions],
                "weights": list(self.weights), "numpy_rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state):
        """Restore the collocation and condition points, loss weights and NumPy generator that
        ``state_dict`` saved (``state``: the checkpoint's mapping)."""
        self.points.interior = state["interior"].numpy()
        self.points.conditions = [None if a.numel() == 0 else a.numpy() for a in state["condition_points"]]
        self.weights = list(state["weights"])
        self.rng.bit_generator.state = json.loads(state["numpy_rng"])

    def result(self, trained) -> dict:
        return summary(trained.model, trained.history, trained.seconds, trained.steps,
                       min(trained.steps, self.epochs), trained.phase_seconds.get("adam", 0.0), trained.stop_reason,
                       trained.threads, trained.processes)


def summary(pinn: PINN, history: list, seconds: float, steps: int, adam_steps: int, adam_seconds: float,
            stop_reason: str, threads: int = 0, processes: list = ()) -> dict:
    """What ``fit`` returns for a PINN (and a PINN run's metrics are made of); ``threads``: torch's
    CPU threads in the process that trained (0: unrecorded); ``processes``: the process count of each
    session that trained it (empty: unrecorded)."""
    final = history[-1] if history else {}
    return {"loss": final.get("train_loss"), "seconds": seconds, "steps": steps,
            "adam_steps_per_second": adam_steps / adam_seconds if adam_seconds else None,
            "stop_reason": stop_reason, "history": history, "threads": threads or None,
            "processes": list(processes) or None,
            "coefficients": {k: float(v.detach()) for k, v in pinn.coefficients.items()}}
