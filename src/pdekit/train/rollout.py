"""Autoregressive surrogates for time-dependent PDEs: a model that advances the last ``history``
states by one step, and the rollout task of the one Trainer.

``Autoregressive`` wraps any network mapping (batch, history * channels, *space) to (batch,
channels, *space). Its target is the next state, or the time derivative, which the wrapper
integrates by Euler, RK2 (Heun) or RK4 over its step ``dt``, so a trained model can be rolled out
with another time step. Per-channel normalization statistics are buffers of the wrapper (set from
the training windows, saved with its weights).

With temporal bundling (``bundle`` K > 1, Brandstetter et al. 2022) the network predicts K
states per call, (batch, K * channels, *space): the next K states, or K mean rates d_k from the
last state, u(t + k dt) = u(t) + k dt d_k (the paper's update; Euler only). A rollout then takes
one network call per K steps.

``RolloutTask`` trains it on windows (k input steps, m target steps; data/trajectories.py) in one
of three modes: ``one_step`` (teacher forcing), ``unrolled`` (backpropagation through
``unroll`` steps), ``pushforward`` (per batch a number of steps drawn from 1..``unroll``, all but
the last without gradient, the last one trained; Brandstetter et al., "Message passing neural PDE
solvers", ICLR 2022), with optional input noise
(relative to each channel's standard deviation) and a curriculum that grows the horizon from 1 to
``unroll`` over the epochs. The validation metric is the mean relative L2 of full rollouts of the
validation windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pdekit.config import limits, param, require
from pdekit.data.dataset import Normalizer
from pdekit.errors import ConfigError, PdekitError
from pdekit.eval.metrics import relative_l2
from pdekit.train.task import Task, register_task

INTEGRATORS = ("euler", "rk2", "rk4")
CONDITIONING = ("channels", "embedding")


class Autoregressive(nn.Module):
    """One step of a rollout around ``net``.

    Parameters
    ----------
    net : a module mapping (batch, history * channels, *space) to (batch, bundle * channels, *space).
    channels : fields per state.
    history : states the step reads (k).
    target : "state" (``net`` predicts the normalized next state) or "derivative" (``net``
        predicts the normalized time derivative, integrated over ``dt``).
    integrator : "euler", "rk2" or "rk4" (derivative target).
    dt : the time step the model advances by (the data's step between stored times).
    cond_log : one entry per scalar the model is conditioned on (PDE parameters varying per
        sample, passed as ``cond`` (batch, len(cond_log)) in physical units): True where the model
        sees its logarithm (a scale such as a viscosity). Empty: no conditioning.
    conditioning : how the normalized scalars reach ``net``: "channels" (appended as constant input
        channels: ``net`` takes history * channels + len(cond_log) channels) or "embedding"
        (``net(x, cond)``, as the U-Net built with ``cond_channels`` takes them).
    bundle : states predicted per call (temporal bundling); > 1 takes a state target or Euler.
    """

    def __init__(self, net: nn.Module, channels: int, history: int = 1, target: str = "state",
                 integrator: str = "rk4", dt: float = 1.0, cond_log: tuple[bool, ...] = (),
                 conditioning: str = "channels", bundle: int = 1):
        super().__init__()
        if bundle < 1 or (bundle > 1 and target == "derivative" and integrator != "euler"):
            raise ConfigError(f"Autoregressive: bundle must be >= 1, and a bundled derivative target integrates each "
                              f"bundled step from the last state by Euler (integrator: euler); got bundle={bundle}, "
                              f"integrator={integrator!r}")
        self.bundle = int(bundle)
        if target not in ("state", "derivative") or integrator not in INTEGRATORS:
            raise ConfigError(f"Autoregressive: target must be state or derivative and integrator one of "
                              f"{', '.join(INTEGRATORS)}; got {target!r}, {integrator!r}")
        if history < 1 or channels < 1 or dt <= 0:
            raise ConfigError(f"Autoregressive: history and channels must be >= 1 and dt > 0; got {history}, "
                              f"{channels}, {dt}")
        if conditioning not in CONDITIONING:
            raise ConfigError(f"Autoregressive: conditioning must be one of {', '.join(CONDITIONING)}, got "
                              f"{conditioning!r}")
        self.net, self.channels, self.history, self.target, self.integrator = net, channels, history, target, integrator
        if hasattr(net, "training_stages"):  # a net trained in stages (SpecBoost, Spectral-Refiner) keeps them
            self.training_stages, self.set_stage = net.training_stages, net.set_stage
        self.dt, self.cond_dim, self.conditioning = float(dt), len(cond_log), conditioning
        # normalization of states and of the time derivative, per channel (set by the task)
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        self.register_buffer("rate", torch.ones(channels))
        if self.cond_dim:  # which scalars are taken as logarithms, and their normalization (set by the task)
            self.register_buffer("cond_log", torch.tensor(cond_log, dtype=torch.bool))
            self.register_buffer("cond_mean", torch.zeros(self.cond_dim))
            self.register_buffer("cond_std", torch.ones(self.cond_dim))

    def _shape(self, x: torch.Tensor) -> tuple:
        return (1, 1, -1) + (1,) * (x.ndim - 3)

    def configuration(self) -> str:
        """What the wrapper makes of its network, for a run folder to recognise it (two models of
        one network shape with other targets or steps are other runs)."""
        return (f"target={self.target} integrator={self.integrator} dt={self.dt!r} history={self.history} "
                f"bundle={self.bundle} conditioning={self.conditioning} "
                f"cond_log={self.cond_log.tolist() if self.cond_dim else []}")

    def features(self, cond: torch.Tensor) -> torch.Tensor:
        """The conditioning scalars (batch, cond_dim) as the network sees them before normalization:
        logarithms where ``cond_log`` says so, float64."""
        c = cond.to(torch.float64)
        if not torch.isfinite(c).all() or (c[:, self.cond_log] <= 0).any():
            raise PdekitError("Autoregressive: the conditioning scalars must be finite, and positive where the model "
                              "takes their logarithm")
        return torch.where(self.cond_log, c.clamp_min(1e-300).log(), c)

    def _condition(self, cond: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """``cond`` checked and normalized, in the model's dtype; None for an unconditioned model."""
        if self.cond_dim == 0:
            if cond is not None:
                raise PdekitError("Autoregressive: this model was built without conditioning (cond_log empty); "
                                  "call it without cond")
            return None
        if cond is None or tuple(cond.shape) != (batch, self.cond_dim):
            raise PdekitError(f"Autoregressive: this model is conditioned on {self.cond_dim} scalar(s) per sample; "
                              f"pass cond shaped ({batch}, {self.cond_dim}), got "
                              f"{None if cond is None else tuple(cond.shape)}")
        c = (self.features(cond.to(self.cond_mean.device)) - self.cond_mean.double()) / self.cond_std.double()
        return c.to(self.mean.dtype)

    def _net(self, states: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``net`` on normalized states (batch, history, channels, *space) and normalized ``cond``:
        (batch, bundle, channels, *space)."""
        z = ((states - self.mean.view(self._shape(states))) / self.std.view(self._shape(states))).flatten(1, 2)
        if cond is None:
            out = self.net(z)
        elif self.conditioning == "embedding":
            out = self.net(z, cond)
        else:
            planes = cond.to(z.dtype).view(*cond.shape, *[1] * (z.ndim - 2)).expand(-1, -1, *z.shape[2:])
            out = self.net(torch.cat([z, planes], dim=1))
        return out.reshape(len(out), self.bundle, self.channels, *out.shape[2:])

    def derivative(self, states: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """du/dt at the last of ``states`` (batch, history, channels, *space), in physical units;
        bundled: the K mean rates (batch, K, channels, *space)."""
        d = self._derivative(states, self._condition(cond, len(states)))
        return d[:, 0] if self.bundle == 1 else d

    def _derivative(self, states: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self._net(states, c) * self.rate.view(self._shape(states))

    def _check(self, states: torch.Tensor) -> None:
        if states.ndim < 4 or states.shape[1] != self.history or states.shape[2] != self.channels or not len(states):
            raise PdekitError(f"Autoregressive: states must be (batch, {self.history}, {self.channels}, *space) with "
                              f"batch >= 1, got {tuple(states.shape)}")

    def step(self, states: torch.Tensor, dt: float | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The state after the last of ``states`` (batch, history, channels, *space): (batch,
        channels, *space). ``dt`` (derivative target only) may differ from the training step;
        ``cond`` (batch, cond_dim): the per-sample parameters, for a conditioned model. A bundled
        model predicts K states per call: use ``advance``."""
        if self.bundle != 1:
            raise PdekitError(f"this model predicts {self.bundle} states per call (bundle); use advance or rollout")
        return self.advance(states, dt, cond)[:, 0]

    def advance(self, states: torch.Tensor, dt: float | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The ``bundle`` states after the last of ``states``, from one call of the network:
        (batch, bundle, channels, *space); ``dt`` and ``cond`` as for ``step``."""
        self._check(states)
        return self._advance(states, dt, self._condition(cond, len(states)))

    def _advance(self, states: torch.Tensor, dt: float | None, c: torch.Tensor | None) -> torch.Tensor:
        """``advance`` with the condition already normalized (a rollout normalizes it once)."""
        if self.target == "state":
            if dt is not None and dt != self.dt:
                raise PdekitError("a model with target=state advances by the step it was trained on; train with "
                                  "target=derivative to roll out with another dt")
            return self._net(states, c) * self.std.view(self._shape(states)) + self.mean.view(self._shape(states))
        h = self.dt if dt is None else float(dt)
        if self.history > 1 and h != self.dt:
            raise PdekitError(f"this model reads {self.history} states {self.dt:g} apart, as it was trained: it rolls "
                              f"out with that step only (a model of history 1 takes another dt)")
        u, before = states[:, -1], states[:, :-1]
        if self.bundle > 1:  # u(t + k h) = u(t) + k h d_k
            k = torch.arange(1, self.bundle + 1, dtype=u.dtype, device=u.device).view(1, -1, *[1] * (u.ndim - 1))
            return u[:, None] + k * h * self._derivative(states, c)
        return self._step_derivative(u, before, h, c)[:, None]

    def _step_derivative(self, u, before, h, c):
        """One step of a derivative target by the integrator, from u after the states ``before``."""
        def f(v):
            return self._derivative(torch.cat([before, v[:, None]], dim=1), c)[:, 0]

        k1 = f(u)
        if self.integrator == "euler":
            return u + h * k1
        if self.integrator == "rk2":
            return u + h / 2 * (k1 + f(u + h * k1))
        k2 = f(u + h / 2 * k1)
        k3 = f(u + h / 2 * k2)
        return u + h / 6 * (k1 + 2 * k2 + 2 * k3 + f(u + h * k3))

    def forward(self, states: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``step``, or for a bundled model ``advance``."""
        return self.step(states, cond=cond) if self.bundle == 1 else self.advance(states, cond=cond)

    def rollout(self, states: torch.Tensor, steps: int, dt: float | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """``steps`` states after ``states`` (batch, history, channels, *space), each predicted
        from the model's own previous ones: (batch, steps, channels, *space)."""
        self._check(states)
        c, out = self._condition(cond, len(states)), []
        for _ in range(-(-steps // self.bundle)):
            nxt = self._advance(states, dt, c)
            out.append(nxt)
            states = torch.cat([states, nxt], dim=1)[:, -self.history :]
        return torch.cat(out, dim=1)[:, :steps]


@dataclass(frozen=True)
class RolloutConfig:
    mode: str = param("one_step", "one_step (teacher forcing), unrolled (gradient through every step) or "
                                  "pushforward (1..unroll steps drawn per batch, only the last trained)", ("one_step", "unrolled", "pushforward"))
    unroll: int = param(1, "calls of the model per training window (unrolled, pushforward), each predicting "
                           "rollout.bundle steps; unroll * bundle is at most the window's m")
    noise: float = param(0.0, "Gaussian noise added to the input states, times each channel's standard deviation")
    curriculum: bool = param(False, "grow the unroll horizon from 1 to unroll over the epochs")
    augment: bool = param(False, "transform each training window by a random Lie point symmetry the problem declares "
                                 "(a periodic shift, and a Galilean boost up to augment_boost; data/lie.py)")
    augment_boost: float = param(0.0, "largest speed c of the Galilean boost u(x - c t, t) + c (0: shifts only)")

    def validate(self):
        """Check unroll >= 1, noise >= 0 and augment_boost >= 0, and unroll == 1 with mode one_step."""
        require(self.unroll >= 1, f"train.unroll must be >= 1, got {self.unroll}")
        for key in ("noise", "augment_boost"):
            require(getattr(self, key) >= 0, f"train.{key} must be >= 0, got {getattr(self, key)}")
        require(self.augment or not self.augment_boost, "train.augment_boost needs train.augment: true")
        require(self.mode != "one_step" or self.unroll == 1, "train.mode=one_step predicts one step: leave "
                "train.unroll at 1 (or choose unrolled or pushforward)")


def _rel(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    return relative_l2(pred, true, dtype=None).mean()


@register_task
class RolloutTask(Task):
    """Train an ``Autoregressive`` model on trajectory windows.

    Parameters
    ----------
    train_windows, val_windows : ``(x, y)`` with x (n, k, channels, *space), the input steps, and
        y (n, m, channels, *space), the steps after them (data.trajectories.windows); or
        ``(x, y, cond)`` with cond (n, p), each window's per-sample parameters, for a model
        conditioned on them.
    config : RolloutConfig (the ``train`` keys mode, unroll, noise, curriculum, augment).
    period : the spatial period of 1D data, for ``augment`` (the problem's length).
    whole_cells : draw ``augment``'s shifts in whole grid cells: data stored on every k-th point of
        a finer solve grid are not band-limited, and a Fourier shift by a fraction of a cell of
        them is not the solver's answer (1e-3 relative at a Burgers start state stored 128 of 1024).
    """

    name = "rollout"
    Config = RolloutConfig
    selection_metric = "val_rollout_rel_l2"

    def __init__(self, train_windows, val_windows, config: RolloutConfig | None = None, period: float | None = None,
                 whole_cells: bool = False):
        self.config, self.period, self.whole_cells = config or RolloutConfig(), period, whole_cells
        checked = []
        for name, group in (("train_windows", train_windows), ("val_windows", val_windows)):
            x, y, cond = (tuple(group) + (None,))[:3] if isinstance(group, (tuple, list)) and len(group) in (2, 3) \
                else (torch.empty(0), None, None)
            if x.ndim < 4 or y.ndim != x.ndim or len(x) != len(y) or x.shape[2:] != y.shape[2:]:
                raise PdekitError(f"rollout: {name} must be (x, y) shaped (n, k, channels, *space) and "
                                  f"(n, m, channels, *space), or (x, y, cond) with cond (n, p)")
            if not len(x):
                raise PdekitError(f"rollout: {name} holds no windows (trajectories shorter than the windows' k + m "
                                  f"steps, or none given)")
            cond = None if cond is None else torch.as_tensor(cond, dtype=torch.float64)
            if cond is not None and (cond.ndim != 2 or len(cond) != len(x)):
                raise PdekitError(f"rollout: the cond of {name} must be shaped ({len(x)}, p), got {tuple(cond.shape)}")
            checked.append((x, y, cond))
        (self.x, self.y, self.c), (self.x_val, self.y_val, self.c_val) = checked
        if (self.c is None) != (self.c_val is None):
            raise PdekitError("rollout: give cond with both the training and the validation windows, or with neither")
        self.configure(self.config)

    def configure(self, config: RolloutConfig) -> None:
        """Take ``config``, refusing an unroll longer than the windows' target steps."""
        if config.unroll > self.y.shape[1]:
            raise ConfigError(f"train.unroll = {config.unroll} exceeds the {self.y.shape[1]} target steps of each window")
        if config.augment and (self.period is None or self.x.ndim != 4):
            raise ConfigError("train.augment transforms 1D periodic windows: give the task the data's period (a "
                              "rollout recipe does, for a problem that declares the symmetries)")
        self.config = config

    @classmethod
    def check_train_config(cls, cfg, task_cfg):
        """The Trainer's general checks, and no torch.compile (the step calls the network itself);
        L-BFGS (train.lbfgs_steps) where one batch holds every window, checked in ``setup``."""
        import dataclasses

        super().check_train_config(dataclasses.replace(cfg, lbfgs_steps=0), task_cfg)
        if cfg.compile:
            raise ConfigError("train.compile is not supported by the rollout task yet; set it to false")

    def fingerprint(self) -> str:
        """sha256 of the training and validation windows."""
        from pdekit.data.sources import _digest

        extra = () if self.c is None else (self.c, self.c_val)
        return _digest(self.x, self.y, self.x_val, self.y_val, *extra)

    def setup(self, model, cfg, device):
        if not isinstance(model, Autoregressive):
            raise PdekitError(f"the rollout task trains a pdekit.train.rollout.Autoregressive, got "
                              f"{type(model).__name__}")
        if self.config.curriculum and self.config.unroll > cfg.epochs:
            raise ConfigError(f"train.curriculum grows the horizon from 1 to train.unroll = {self.config.unroll} over "
                              f"the Adam epochs: it needs at least that many (train.epochs = {cfg.epochs})")
        if self.config.unroll * model.bundle > self.y.shape[1]:
            raise ConfigError(f"train.unroll = {self.config.unroll} calls of {model.bundle} bundled step(s) need "
                              f"{self.config.unroll * model.bundle} target steps; the windows have {self.y.shape[1]}")
        if cfg.lbfgs_steps and cfg.batch_size < len(self.x):
            raise ConfigError(f"train.lbfgs_steps runs L-BFGS on one batch of all the training windows: set "
                              f"train.batch_size >= {len(self.x)} (it is {cfg.batch_size})")
        given = 0 if self.c is None else self.c.shape[1]
        if model.cond_dim != given:
            raise PdekitError(f"the model is conditioned on {model.cond_dim} scalar(s) per sample, the windows carry "
                              f"{given}")
        if given:
            features = model.features(self.c.to(model.cond_log.device))
            # a scalar or channel constant in training is scaled by its size, as the operator's
            # normalizers do (by 1e-12 a state 1% off it became 1e10)
            mean = features.mean(dim=0)
            model.cond_mean.copy_(mean)
            model.cond_std.copy_(Normalizer.scale(mean, features.std(dim=0).nan_to_num(0.0)))
        dims = [d for d in range(self.x.ndim) if d != 2]
        frames = torch.cat([self.x, self.y], dim=1).double()
        mean = frames.mean(dim=dims)  # (float64, into the model's buffers: a float64 model keeps every digit)
        model.mean.copy_(mean)
        model.std.copy_(Normalizer.scale(mean, frames.std(dim=dims)))
        rate = (self.y[:, 0] - self.x[:, -1]).double() / model.dt  # the one-step difference quotient
        model.rate.copy_(rate.transpose(0, 1).flatten(1).std(dim=1).clamp_min(1e-12))
        self.noise_scale = model.std.float().view(1, 1, -1, *[1] * (self.x.ndim - 3)).clone()
        self.dt = model.dt
        self.seed, self.batch, self.epochs, self.device = cfg.seed, cfg.batch_size, max(cfg.epochs, 1), device
        self.adam_epochs = cfg.epochs
        self.horizon = self.config.unroll

    def batches(self, epoch, dtype):
        c = self.config
        adam = epoch <= self.adam_epochs  # (else the L-BFGS phase's one batch)
        self.horizon = min(c.unroll, 1 + (epoch - 1) * c.unroll // self.epochs) if c.curriculum and adam else c.unroll
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.x), generator=generator)
        for i in range(0, len(order), self.batch):
            idx = order[i : i + self.batch]
            xb, yb = self.x[idx], self.y[idx]
            cb = None if self.c is None else self.c[idx].to(self.device)
            # (the L-BFGS batch is the windows as they are: a single draw of noise or of symmetries
            # would be fitted, not averaged over)
            if c.augment and adam:  # a random shift and boost per window, from the epoch's generator
                xb, yb = self._augment(xb, yb, generator)
            if c.noise and adam:  # drawn from the epoch's generator, so a resumed run draws the same noise
                xb = xb + torch.randn(xb.shape, generator=generator) * c.noise * self.noise_scale
            # pushforward trains the last of 1..horizon steps, drawn per batch (Brandstetter et al.);
            # the L-BFGS phase's one batch trains the whole horizon unrolled: a line search needs the
            # gradient of the loss it searches, which pushforward's detached inputs do not give
            h = int(torch.randint(1, self.horizon + 1, (1,), generator=generator)) \
                if c.mode == "pushforward" and adam else self.horizon
            mode = c.mode if adam or c.mode != "pushforward" else "unrolled"
            yield xb.to(self.device, dtype), yb.to(self.device, dtype), h, cb, mode  # (float64 under L-BFGS)

    def _augment(self, xb, yb, generator):
        from pdekit.data.lie import transform, whole_cells

        n, k = len(xb), xb.shape[1]
        s = torch.rand(n, generator=generator, dtype=torch.float64) * self.period
        if self.whole_cells:
            s = whole_cells(s, self.period, xb.shape[-1])
        boost = (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * self.config.augment_boost
        t = self.dt * torch.arange(k + yb.shape[1], dtype=torch.float64)
        both = transform(torch.cat([xb, yb], dim=1), t, s, boost, self.period)
        return both[:, :k], both[:, k:]

    def batch_size(self, batch):
        return len(batch[0])

    def loss(self, model, batch, step):
        xb, yb, h, cb = batch[:4]
        mode = batch[4] if len(batch) > 4 else self.config.mode  # (batches name it: L-BFGS unrolls pushforward)
        k = model.bundle  # h counts calls of the network, k steps each
        if mode == "one_step":
            return _rel(model.advance(xb, cond=cb), yb[:, :k]), {}
        if mode == "unrolled":
            pred = model.rollout(xb, h * k, cond=cb)
            return sum(_rel(pred[:, s * k : (s + 1) * k], yb[:, s * k : (s + 1) * k]) for s in range(h)) / h, {}
        with torch.no_grad():  # pushforward: the model's own inputs, no gradient through them
            states = torch.cat([xb, model.rollout(xb, (h - 1) * k, cond=cb)], dim=1)[:, -xb.shape[1]:] if h > 1 else xb
        return _rel(model.advance(states, cond=cb), yb[:, (h - 1) * k : h * k]), {}

    @torch.no_grad()
    def validate(self, model):
        model.eval()

        def cond(i):
            return None if self.c_val is None else self.c_val[i : i + 64].to(self.device)

        dtype = model.mean.dtype  # float64 after an L-BFGS phase
        pred = torch.cat([model.rollout(self.x_val[i : i + 64].to(self.device, dtype), self.y_val.shape[1],
                                        cond=cond(i)).float().cpu() for i in range(0, len(self.x_val), 64)])
        error = relative_l2(pred.flatten(0, 1), self.y_val.flatten(0, 1)).mean()
        return {"val_rollout_rel_l2": float(error)}


@dataclass(frozen=True)
class RolloutSection:
    """The ``rollout`` section of a rollout recipe: the windows trained on and the model's step."""

    start: int = param(0, "stored times before this index are not used, in training or testing (the FNO paper's "
                          "Navier-Stokes inputs begin at t = 1)")
    history: int = param(1, "states the model reads (k): the first k used times start every test rollout")
    steps: int = param(4, "target steps per training window (m); train.unroll * bundle is at most this")
    stride: int = param(1, "stored times between the starts of consecutive training windows")
    target: str = param("state", "what the network predicts: the next state, or the time derivative",
                        ("state", "derivative"))
    integrator: str = param("rk4", "integrator of a derivative target", INTEGRATORS)
    test_steps: int = param(0, "steps of each test rollout (0: every stored time after the first k)")
    bundle: int = param(1, "steps predicted per call of the network (temporal bundling, MP-PDE); a derivative "
                           "target then needs integrator: euler")
    conditioning: str = param("channels", "how parameters that vary per sample (data.params.<name>_max) reach the "
                                          "network: constant input channels, the model's embedding (unet), or not "
                                          "at all (none)", ("channels", "embedding", "none"))

    def validate(self):
        """Check that history, steps and stride are >= 1 and test_steps and start >= 0."""
        limits(self, "rollout.", history=(">=", 1), steps=(">=", 1), stride=(">=", 1), bundle=(">=", 1),
               test_steps=(">=", 0), start=(">=", 0))
        require(self.bundle == 1 or self.target == "state" or self.integrator == "euler",
                "rollout.bundle > 1 with target: derivative integrates each bundled step by Euler: set integrator: euler")
