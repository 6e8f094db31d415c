"""Online training (``data.source: online``): solver worker processes draw fresh inputs, solve them
and send the samples to a bounded buffer in the trainer's memory; the trainer draws its batches
from that buffer and nothing is written to disk (the Melissa setup).

Reproducible by construction. The j-th fresh sample of the training stream is sample index
``j`` of the seed's stream (skipping the validation and test indices), a pure function of (config,
seed, index) like every generated sample, bitwise equal to the same sample of a generated file.
The buffer takes the fresh samples in stream order, a fixed number per step, and the trainer's
draws come from the epoch's seeded generator, so a run is a pure function of its recipe: it can be
replayed, and resumed bit for bit, whatever the workers' speed. The price: when the solvers are
slower than the trainer, the trainer waits (the progress bar says so and ``trainer_wait_s`` is
logged) rather than reusing samples more than asked; add workers, or with the reservoir policy
raise ``data.reuse``.

Policies (each step first adds the step's fresh samples, then draws a batch):

- ``fifo``: the batch is the oldest samples, removed: each sample is drawn once, in stream order;
- ``firo`` (first in, random out): the batch is drawn at random and removed: each sample is drawn
  once, in a shuffled order;
- ``reservoir``: the batch is drawn at random and kept; once the buffer is full, each new sample
  replaces a random one, so samples are drawn ``data.reuse`` times on average.

Under torchrun each process has its own workers and the fresh positions rank, rank + world, ...
so the streams are disjoint; each yields its share of the global batch.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait

import numpy as np
import torch

from pdekit.data.dataset import Normalizer, PairTask, read_pairs
from pdekit.data.formats import Source
from pdekit.data.generate import solve_samples
from pdekit.data.sources import PairSource, _merge, _moments, _normalizer
from pdekit.errors import ConfigError, PdekitError

POLICIES = ("fifo", "firo", "reservoir")
STALL_SECONDS = None  # seconds without a delivery after which waiting is an error (None: a slow solver is not a
# stuck one; dead workers are restarted, and the progress bar shows how long the trainer waits)


def solved_pairs(problem, seed: int, indices: list[int], task: PairTask = PairTask()) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) pairs of samples ``indices``, solved now, exactly as ``read_pairs`` reads them from
    a generated file (the stored grid, float32)."""
    arrays = solve_samples(problem, seed, indices)

    def reader(a):
        return lambda start, count, t: a[start : start + count] if t is None else a[start : start + count, t]

    nt = arrays[f"fields/{problem.fields[0]}"].shape[1] if problem.time_dependent else 1
    source = Source("online", "pdekit", len(indices), problem.time_dependent, (), {"t": np.arange(nt)},
                    {k: reader(arrays[f"fields/{k}"]) for k in problem.fields},
                    {k: reader(arrays[f"inputs/{k}"]) for k in problem.inputs},
                    {k: reader(arrays[f"params/{k}"]) for k in problem.sample_params}, problem=problem.name)
    return read_pairs(source, 0, len(indices), task)


def _solve_forever(read_fd: int, write_fd: int) -> None:
    """A worker: receive (problem, seed, task, threads), then solve each job (job id, indices) and
    send back (job id, x, y), until told None."""
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    problem, seed, task, threads = inbox.recv()
    torch.set_num_threads(threads)
    while True:
        try:
            job = inbox.recv()
        except EOFError:  # the trainer is gone
            return
        if job is None:
            return
        job_id, indices = job
        x, y = solved_pairs(problem, seed, indices, task)
        try:
            outbox.send((job_id, x, y))
        except BrokenPipeError:  # the trainer is gone
            return


class SolverPool:
    """Worker processes that solve lists of sample indices; a worker that dies is restarted and its
    unfinished jobs are sent again (a result that arrives twice is dropped by the caller).

    Workers are fresh interpreters (``python -c``) talking over pipes, so they never re-import the
    user's script (as multiprocessing's spawn would) nor inherit the trainer's threads (as fork
    would).

    Parameters
    ----------
    problem : Problem
        The problem whose samples are solved.
    seed : int
        The dataset seed.
    task : PairTask
        Which pairs each solved sample gives.
    workers : int
        Processes.
    threads : int
        Torch threads per worker.
    notify : callable
        Called with a message when a worker is restarted.
    """

    def __init__(self, problem, seed: int, task, workers: int, threads: int = 1, notify=print):
        self.setup, self.notify = (problem, seed, task, threads), notify
        self.procs, self.inboxes, self.outboxes = [None] * workers, [None] * workers, [None] * workers
        self.jobs: list[dict[int, list[int]]] = [{} for _ in range(workers)]  # unfinished jobs per worker
        self.deaths: dict[int, int] = {}  # job id -> workers that died holding it
        self.next_job, self.restarts, self.solved = 0, 0, 0
        self.started = time.perf_counter()
        for w in range(workers):
            self._start(w)

    def _start(self, w: int) -> None:
        jobs_read, jobs_write = os.pipe()
        results_read, results_write = os.pipe()
        code = f"from pdekit.data.online import _solve_forever; _solve_forever({jobs_read}, {results_write})"
        self.procs[w] = subprocess.Popen([sys.executable, "-c", code], pass_fds=(jobs_read, results_write))
        os.close(jobs_read)
        os.close(results_write)
        self.inboxes[w] = Connection(jobs_write, readable=False)  # the worker's inbox: we write to it
        self.outboxes[w] = Connection(results_read, writable=False)
        self._send(w, self.setup)

    def _send(self, w: int, message) -> None:
        try:
            self.inboxes[w].send(message)
        except OSError:  # the worker died: collect() restarts it and sends its jobs again
            pass

    def submit(self, indices: list[int]) -> int:
        """Queue ``indices`` on the least busy worker; returns the job's id."""
        w = min(range(len(self.procs)), key=lambda i: sum(len(v) for v in self.jobs[i].values()))
        job_id, self.next_job = self.next_job, self.next_job + 1
        self.jobs[w][job_id] = indices
        self._send(w, (job_id, indices))
        return job_id

    def collect(self, timeout: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Finished jobs (job id, x, y), waiting at most ``timeout`` seconds for the first; dead
        workers are restarted here."""
        done = []
        for conn in wait(list(self.outboxes), timeout):
            w = self.outboxes.index(conn)
            try:
                job_id, x, y = conn.recv()
            except (EOFError, OSError, ConnectionError):
                self._restart(w)
                continue
            if self.jobs[w].pop(job_id, None) is not None:
                self.solved += len(x)
                done.append((job_id, x, y))
        for w, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self._restart(w)
        return done

    def _restart(self, w: int) -> None:
        proc, lost = self.procs[w], self.jobs[w]
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # its pipe broke but it lingers
            proc.kill()
            proc.wait()
        self.inboxes[w].close()
        self.outboxes[w].close()
        for job_id, indices in lost.items():
            self.deaths[job_id] = self.deaths.get(job_id, 0) + 1
            if self.deaths[job_id] >= 3:
                self.close()
                raise PdekitError(f"solving samples {indices[:4]}{'...' if len(indices) > 4 else ''} killed a solver "
                                  f"worker three times (its error is printed above)")
        self._start(w)
        self.restarts += 1
        for job_id, indices in lost.items():
            self._send(w, (job_id, indices))
        self.notify(f"solver worker {w} (pid {proc.pid}) died (exit code {proc.returncode}); restarted it as pid "
                    f"{self.procs[w].pid}, and its {sum(len(v) for v in lost.values())} unfinished samples are "
                    f"solved again")

    def close(self) -> None:
        """Stop every worker."""
        for inbox in self.inboxes:
            try:
                inbox.send(None)
            except (OSError, ConnectionError):
                pass  # already gone
        deadline = time.perf_counter() + 2
        while time.perf_counter() < deadline and any(p.poll() is None for p in self.procs):
            running = [o for o, p in zip(self.outboxes, self.procs) if p.poll() is None]
            for conn in wait(running, 0.1):  # a worker may be sending a last result
                try:
                    conn.recv()
                except (EOFError, OSError):
                    pass
        for proc, inbox, outbox in zip(self.procs, self.inboxes, self.outboxes):
            if proc.poll() is None:  # solving a job nobody needs any more
                proc.terminate()
            proc.wait()
            inbox.close()
            outbox.close()


def resolve_watermark(buffer: int, policy: str, watermark: int, batch: int, reuse: float = 1.0) -> int:
    """The samples in the buffer before the first step, checked against its size and the batch.

    Raises
    ------
    ConfigError
        If the buffer cannot hold what a step needs.
    """
    new = batch if policy != "reservoir" else max(1, round(batch / reuse))
    if policy not in POLICIES:
        raise ConfigError(f"unknown buffer policy '{policy}'; known: {', '.join(POLICIES)}")
    if watermark < 0:
        watermark = max(0, buffer - batch) if policy != "reservoir" else buffer
        if watermark < 1:  # (not set: say what to change, not the watermark the user never named)
            raise ConfigError(f"data.buffer = {buffer} must exceed the batch ({batch}): policy {policy} keeps "
                              f"data.buffer less a batch before each step (fitting the normalizers on the first "
                              f"fill) and adds a batch of fresh samples; give data.buffer >= {batch + 1}")
    if watermark < 1:
        raise ConfigError(f"data.watermark must be >= 1: the normalizers are fitted on the buffer's first fill "
                          f"(data.buffer = {buffer}, batch {batch})")
    if policy != "reservoir" and watermark + batch > buffer:
        raise ConfigError(f"data.buffer = {buffer} must hold data.watermark ({watermark}) plus a batch ({batch})")
    if policy == "reservoir" and (watermark > buffer or min(watermark + new, buffer) < batch):
        raise ConfigError(f"data.buffer = {buffer} and data.watermark = {watermark}: the reservoir must start at most "
                          f"full and hold a batch ({batch}) after the first step's {new} new samples")
    return watermark


class OnlinePairs(PairSource):
    """Training pairs solved on the fly by worker processes into a bounded buffer (see the module
    docstring for the policies and the reproducibility they keep).

    Parameters
    ----------
    problem : Problem
        The problem, at the stored resolution.
    seed : int
        The dataset seed.
    n_train : int
        Samples per epoch (an epoch is n_train / batch_size steps); fresh positions below n_train are
        the indices an offline run trains on, later ones skip the validation and test indices.
    skip : int
        Number of validation and test indices, which follow index n_train - 1 and are never trained on.
    task : PairTask
        Which pairs a solved sample gives, as for ``load_pairs``.
    batch_size : int
        The global batch (each step draws this process's share).
    buffer, policy, watermark, reuse :
        The buffer's size in samples, its policy, the samples it holds before the first step (-1: the
        default of ``resolve_watermark``) and, for the reservoir, the draws per fresh sample.
    workers, threads :
        Solver processes and torch threads in each.
    chunk : int
        Samples a worker solves together.
    rank, world : int
        This process and the number of processes (torchrun).
    """

    sharded = True

    def __init__(self, problem, seed: int, n_train: int, skip: int, batch_size: int, task: PairTask = PairTask(),
                 buffer: int = 1024, policy: str = "firo", watermark: int = -1, workers: int = 2, reuse: float = 1.0,
                 chunk: int = 32, threads: int = 1, rank: int = 0, world: int = 1):
        self.problem, self.seed, self.n_train, self.skip, self.task = problem, seed, n_train, skip, task
        self.batch_size, self.share = batch_size, len(range(rank, batch_size, world))  # this process's share
        if self.share == 0:
            raise PdekitError(f"train.batch_size = {batch_size} gives no sample to some of the {world} processes")
        self.watermark = resolve_watermark(buffer, policy, watermark, self.share, reuse)
        self.watermark_setting = watermark  # (as given: the resolved one depends on this process's share)
        self.capacity, self.policy, self.reuse = buffer, policy, reuse
        self.workers, self.threads, self.chunk, self.rank, self.world = workers, threads, chunk, rank, world
        self.channels, self.ndim = task.shape(problem.channels(), problem.ndim, len(problem.sample_params))
        self.pool = None
        self.buffer: list[int] = []  # fresh positions (this process's numbering) in buffer order
        self.samples: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # received: in the buffer or next
        self.wanted: set[int] = set()  # asked of the workers, not yet received
        self.jobs: dict[int, list[int]] = {}  # job id -> positions
        self.next = 0  # the next fresh position to enter the buffer
        self.requested = 0  # positions below this were asked for in stream order
        self.inserted: list[int] = []  # every position that entered the buffer, in order (a run's audit trail)
        self.wait_seconds, self.messages, self.show, self.drawn, self.drawn_total = 0.0, [], None, [], 0

    def index(self, position: int) -> int:
        """The sample index (in the seed's stream) of this process's fresh ``position``."""
        p = position * self.world + self.rank
        return p if p < self.n_train else p + self.skip

    # --- the workers ---------------------------------------------------------------------
    def _submit(self, positions) -> None:
        todo = [p for p in positions if p not in self.samples and p not in self.wanted]
        if todo and self.pool is None:
            self.pool = SolverPool(self.problem, self.seed, self.task, self.workers, self.threads, self._notify)
        for i in range(0, len(todo), self.chunk):
            part = todo[i : i + self.chunk]
            self.jobs[self.pool.submit([self.index(p) for p in part])] = part
            self.wanted.update(part)

    def _notify(self, message: str) -> None:
        from tqdm import tqdm

        self.messages.append(message)
        tqdm.write(f"note: {message}", file=sys.stderr)

    def _wait_for(self, positions: list[int]) -> None:
        missing = [p for p in positions if p not in self.samples]
        started = last = time.perf_counter()
        while missing:
            for job_id, x, y in self.pool.collect(timeout=0.5):
                last = time.perf_counter()
                for p, xi, yi in zip(self.jobs.pop(job_id), torch.from_numpy(x), torch.from_numpy(y)):
                    if p in self.wanted:  # a job sent again after a worker died may arrive twice
                        self.wanted.discard(p)
                        self.samples[p] = (xi.clone(), yi.clone())  # not views: a chunk is freed sample by sample
            missing = [p for p in missing if p not in self.samples]
            waited = time.perf_counter() - started
            if missing and STALL_SECONDS and time.perf_counter() - last > STALL_SECONDS:
                raise PdekitError(f"the solver workers delivered nothing in {STALL_SECONDS} s while {len(missing)} "
                                  f"samples are awaited; is a worker stuck?")
            if missing and waited > 1 and self.show is not None:
                self.show(f"waiting {waited:.0f} s for the solvers: buffer {len(self.buffer)}/{self.capacity}, "
                          f"{len(missing)} samples to come")
        self.wait_seconds += time.perf_counter() - started

    def _insert(self, k: int, generator: torch.Generator | None) -> None:
        """The next k fresh samples enter the buffer (the reservoir evicts random ones once full)."""
        new = list(range(self.next, self.next + k))
        while self.requested < self.next + k + 2 * self.chunk * self.workers:  # every worker busy, memory bounded
            self._submit(range(self.requested, self.requested + self.chunk))  # whole chunks: a job of one sample
            self.requested += self.chunk  # costs a solver call as a whole batch does
        self._wait_for(new)
        for p in new:
            if self.policy == "reservoir" and len(self.buffer) >= self.capacity:
                slot = int(torch.randint(self.capacity, (1,), generator=generator))
                del self.samples[self.buffer[slot]]
                self.buffer[slot] = p
            else:
                self.buffer.append(p)
        self.inserted.extend(new)
        self.next += k

    def _fill(self) -> None:
        """The first fill: the watermark's samples, before the first step (not again on resume)."""
        if not self.buffer:
            self._insert(self.watermark, None)

    def _draw(self, b: int, generator: torch.Generator):
        if self.policy == "fifo":
            chosen = list(range(b))
        else:
            chosen = torch.randperm(len(self.buffer), generator=generator)[:b].tolist()
        self.drawn = [self.buffer[i] for i in chosen]  # the positions of this batch (for tests and audits)
        self.drawn_total += b
        x = torch.stack([self.samples[self.buffer[i]][0] for i in chosen])
        y = torch.stack([self.samples[self.buffer[i]][1] for i in chosen])
        if self.policy != "reservoir":  # drawn once: out of the buffer
            for i in sorted(chosen, reverse=True):
                del self.samples[self.buffer.pop(i)]
        return x, y

    # --- PairSource ------------------------------------------------------------------------
    def normalizers(self):
        """The normalizers of the first fill of the buffer (the watermark's samples; under torchrun,
        of every process's first fill), which are solved here: training starts once they are in."""
        self._fill()
        first = [torch.stack([self.samples[p][i] for p in self.buffer]) for i in (0, 1)]
        if self.world == 1:
            return Normalizer.fit(first[0]), Normalizer.fit(first[1])
        import torch.distributed as dist  # every process fits the same normalizers: those of all first fills

        every = [None] * self.world
        dist.all_gather_object(every, [_moments(a) for a in first])
        moments = [functools.reduce(_merge, [m[i] for m in every]) for i in (0, 1)]
        return tuple(_normalizer(m) for m in moments)

    def batches(self, batch_size, generator):
        if batch_size != self.batch_size:
            raise PdekitError(f"this online source was built for batches of {self.batch_size}, not {batch_size}")
        b = self.share
        k = b if self.policy != "reservoir" else max(1, round(b / self.reuse))
        self._fill()
        for _ in range(math.ceil(self.n_train / batch_size)):
            self._insert(k, generator)
            yield self._draw(b, generator)

    def fingerprint(self):
        import hashlib

        from pdekit.data.storage import canonical, dataset_identity

        key = {**dataset_identity(self.problem, self.n_train, self.seed, 0), "skip": self.skip, "task": list(self.task),
               # the stream's draws too: a resume under another policy would read the old buffer's positions
               # (as configured, alike on every process: the resolved watermark follows each one's share)
               "buffer": self.capacity, "policy": self.policy, "watermark": self.watermark_setting,
               "batch_size": self.batch_size, "reuse": self.reuse}
        return hashlib.sha256(canonical(key).encode()).hexdigest()[:16]

    def state_dict(self):
        """Every process's buffer (its positions) and next fresh position: with them a resumed run
        rebuilds the buffer by solving those samples again. A collective call under torchrun."""
        mine = {"buffer": self.buffer, "next": self.next}
        if self.world > 1:
            import torch.distributed as dist

            every = [None] * self.world
            dist.all_gather_object(every, mine)
        else:
            every = [mine]
        return {"online_state": json.dumps(every)}

    def load_state_dict(self, state):
        if "online_state" not in state:
            return
        every = json.loads(state["online_state"])
        if len(every) != self.world:
            raise PdekitError(f"this online run was trained by {len(every)} process(es); resume it with as many "
                              f"(its buffers are per process)")
        mine = every[self.rank]
        self.buffer, self.next = list(mine["buffer"]), int(mine["next"])
        keep = set(self.buffer)
        self.samples = {p: v for p, v in self.samples.items() if p in keep or p >= self.next}
        self.wanted = {p for p in self.wanted if p in keep or p >= self.next}
        self.requested = self.next
        self.inserted = []
        self._submit(self.buffer)
        self._wait_for(self.buffer)

    def stats(self):
        """Fresh samples so far, buffer fill, the workers' throughput (samples per second of wall
        time since they started), the trainer's (samples drawn per second it did not wait), its
        wait and the worker restarts, summed since this process started (a resumed run counts afresh).
        Under torchrun (a collective call) the processes' sums, and the longest wait."""
        pool = self.pool
        elapsed = time.perf_counter() - pool.started if pool else 0.0
        busy = elapsed - self.wait_seconds
        mine = {"fresh_samples": float(self.next), "buffer_fill": float(len(self.buffer)),
                "solver_samples_per_s": pool.solved / elapsed if pool and elapsed > 0 else 0.0,
                "trainer_samples_per_s": self.drawn_total / busy if busy > 0 else 0.0,
                "trainer_wait_s": self.wait_seconds, "worker_restarts": float(pool.restarts if pool else 0)}
        if self.world == 1:
            return mine
        import torch.distributed as dist

        every = [None] * self.world
        dist.all_gather_object(every, mine)
        return {k: (max if k == "trainer_wait_s" else sum)(e[k] for e in every) for k in mine}

    def close(self):
        if self.pool is not None:
            self.pool.close()
            self.pool = None
