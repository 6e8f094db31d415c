"""The ``data`` section of an operator recipe: what to generate (or read) and how to split it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pdekit.config import limits, param, refuse_unused, require


@dataclass(frozen=True)
class DataSection:
    problem: str = param("burgers_1d", "problem that generates the data (a recipe names it, or data.file)")
    resolution: int = param(0, "stored grid (0: the problem's default)")
    params: dict = field(default_factory=dict, metadata={"help": "problem parameters"})
    n_train: int = param(1000, "training samples: indices 0 .. n_train - 1 of the seed's stream")
    n_val: int = param(-1, "validation samples, the next indices after training's (-1: 10% of n_train, at "
                           "least 1): they choose epochs and settings, and show the error per epoch")
    n_test: int = param(200, "test samples: the indices after validation's, touched once, after training")
    seed: int = param(0, "dataset seed")
    input_time: int = param(0, "time index of the input (time-dependent problems)")
    target_time: int = param(-1, "time index of the target (time-dependent problems)")
    trajectory: bool = param(False, "predict the whole trajectory from the input_time slice (a space-time task "
                                    "with one more dimension; PINO's Burgers setup)")
    input_steps: int = param(1, "with data.trajectory: the input is this many stored times from input_time (as "
                                "channels, repeated along time) and the target the times after them (the FNO "
                                "paper's FNO-3D: 10 in, 40 out); 1: the whole trajectory from one slice")
    batch_size: int = param(32, "samples solved together while generating")
    file: str = param("", "train on this file instead (pdekit, PDEBench or The Well layout): the first n_train "
                          "samples train, the next n_val validate, the next n_test test; problem, params and seed "
                          "are then unused")
    test_file: str = param("", "with data.file: take the n_test test samples from the start of this file")
    grid: str = param("auto", "where the data's points lie, for the models' coordinates and padding: periodic "
                              "(x_j = j L / n) or nodes (both ends, x_j = j L / (n - 1)); auto: a generated problem's "
                              "own (from a file pdekit made too), a file of The Well's periodic when its every boundary is, "
                              "else nodes",
                      ("auto", "periodic", "nodes"))
    source: str = param("memory", "where training pairs come from: memory (the whole split loaded), stream (read "
                                  "in chunks, memory bounded by data.buffer), online (solver workers feed a buffer; "
                                  "nothing on disk; docs/scaling.md)", ("memory", "stream", "online"))
    buffer: int = param(1024, "samples held: the shuffle buffer of a streamed file, the sample buffer of online "
                              "training")
    buffer_policy: str = param("firo", "online: fifo (each sample drawn once, oldest first), firo (once, at random), "
                                       "reservoir (drawn at random, kept until replaced: see data.reuse)",
                               ("fifo", "firo", "reservoir"))
    watermark: int = param(-1, "online: samples in the buffer before the first step (-1: data.buffer, less one "
                               "batch for fifo and firo)")
    workers: int = param(2, "online: solver processes (each of a torchrun process's own)")
    reuse: float = param(1.0, "online, reservoir: draws per fresh sample; each step adds batch_size / reuse new "
                              "samples")

    applies_when = {("buffer",): ("source", ("stream", "online")),  # (refuse_unused)
                    ("buffer_policy", "watermark", "workers", "reuse"): ("source", ("online",))}

    def validate(self):
        """Check the counts, the buffer settings (with a source that has a buffer), and that online
        data is generated, not read."""
        limits(self, "data.", n_train=(">=", 1), n_test=(">=", 1))
        require(self.batch_size >= 1, f"data.batch_size must be >= 1, got {self.batch_size}")
        require(self.seed >= 0, f"data.seed must be >= 0, got {self.seed}")
        require(self.n_val >= 1 or self.n_val == -1, f"data.n_val must be >= 1 (or -1: 10% of n_train), got {self.n_val}")
        require(self.input_steps >= 1 and (self.input_steps == 1 or self.trajectory),
                f"data.input_steps must be >= 1, and above 1 only with data.trajectory=true, got {self.input_steps}")
        limits(self, "data.", buffer=(">=", 1), workers=(">=", 1), reuse=(">", 0))
        refuse_unused(self, "data.")
        require(self.source != "online" or not self.file, "data.source=online solves its training samples; it cannot "
                "be combined with data.file (use data.source=stream to read a large file)")
        require(not (self.trajectory and self.grid == "periodic"), "data.grid=periodic does not apply to "
                "data.trajectory (its time axis has both ends): leave data.grid at auto")
        require(self.file or not self.test_file, f"data.test_file ({self.test_file}) goes with data.file (the "
                f"training samples); generated data make their own test split")
        require(not (self.file and self.test_file) or os.path.realpath(self.file) != os.path.realpath(self.test_file),
                f"data.test_file is data.file ({self.file}): its test samples, from the start of the file, would be "
                f"training samples; leave data.test_file empty (the test split then follows validation in data.file)")

    def resolved_grid(self) -> str:
        """Where the data's points lie: "periodic" (j / n) or "nodes" (j / (n - 1)): ``grid`` where
        given; else a periodic problem's generated data (also read from a file pdekit generated), or a
        user's file of The Well whose every axis is periodic, are periodic, and other files and
        trajectories (whose time axis has both ends) nodes."""
        from pdekit.data.formats import file_grid
        from pdekit.problems import get_problem

        if self.trajectory:
            return "nodes"
        if self.grid != "auto":
            return self.grid
        if self.file:
            return file_grid(self.file)
        return "periodic" if get_problem(self.problem).periodic else "nodes"

    def needed_from(self, test: bool) -> tuple[int, str]:
        """The samples data.file (``test`` False) or data.test_file (True) must hold for the splits,
        and the keys that ask for them, as an error names them."""
        n_val = self.validation_count
        if test:
            return self.n_test, f"data.n_test = {self.n_test}"
        if self.test_file:
            return self.n_train + n_val, f"data.n_train = {self.n_train} and data.n_val = {n_val}"
        return (self.n_train + n_val + self.n_test,
                f"data.n_train = {self.n_train}, data.n_val = {n_val} and data.n_test = {self.n_test}")

    def test_file_grid(self) -> str | None:
        """The grid of data.test_file where it differs from data.file's ("256", "64 x 64"), else None."""
        from pdekit.data.formats import open_source

        if not (self.file and self.test_file):
            return None
        spaces = []
        for path in (self.file, self.test_file):
            f, source = open_source(path)
            f.close()
            spaces.append(source.space)
        return " x ".join(map(str, spaces[1])) if spaces[0] != spaces[1] else None

    @property
    def validation_count(self) -> int:
        """The number of validation samples: n_val, or for -1 10% of n_train (at least 1)."""
        return self.n_val if self.n_val > 0 else max(1, round(0.1 * self.n_train))
