"""Where the supervised task's training pairs come from (``data.source``): all in memory, streamed
from a file in chunks with bounded memory, or solved on the fly by worker processes (online.py).

A source yields the batches of an epoch as a pure function of a seeded generator, so a resumed run
sees the batches an uninterrupted one would; it fits the per-channel normalizers from its own data.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterator

import numpy as np
import torch

from pdekit.data.dataset import Normalizer, PairTask, Split, check_finite, check_pairs, read_pairs, sample_count
from pdekit.data.formats import open_source, reading
from pdekit.errors import DataFileError

Batch = tuple[torch.Tensor, torch.Tensor]


class PairSource:
    """Training pairs (x, y) shaped (n, channels, *space) for the supervised task.

    Attributes
    ----------
    channels : (int, int)
        Input and output channels.
    ndim : int
        Spatial dimensions.
    sharded : bool
        Whether ``batches`` already yields this process's share under torchrun (the Trainer then
        does not split them again).
    rank : int
        The process whose share a sharded source yields.
    """

    channels: tuple[int, int]
    ndim: int
    sharded = False
    rank = 0

    def normalizers(self) -> tuple[Normalizer, Normalizer]:
        """Per-channel normalizers of the training inputs and targets."""
        raise NotImplementedError

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """One epoch of (x, y) batches on the CPU, a function of the generator's state."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A digest of the data, part of a checkpoint's identity."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """What a resumed run needs to continue the stream (nothing for a file or memory)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict``'s keys (``state`` is the whole checkpoint mapping)."""

    def stats(self) -> dict[str, float]:
        """Figures logged with each metrics row (an online source's throughputs)."""
        return {}

    def close(self) -> None:
        """Release files and processes."""


class MemoryPairs(PairSource):
    """Pairs held in memory, shuffled each epoch by ``randperm``.

    Parameters
    ----------
    x, y : torch.Tensor
        Inputs and targets, (n, channels, *space), equal n.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y
        self.channels, self.ndim = (x.shape[1], y.shape[1]), x.ndim - 2

    def __len__(self) -> int:
        return len(self.x)

    def normalizers(self):
        return Normalizer.fit(self.x), Normalizer.fit(self.y)

    def to(self, device: torch.device) -> None:
        """Keep the pairs on ``device`` (small datasets on a GPU: copied once, not every step)."""
        self.x, self.y = self.x.to(device), self.y.to(device)

    def batches(self, batch_size, generator):
        order = torch.randperm(len(self.x), generator=generator)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            yield self.x[idx], self.y[idx]

    def fingerprint(self):
        return _digest(self.x, self.y)


class StreamedPairs(PairSource):
    """Pairs read from a file chunk by chunk: memory holds at most ``buffer`` samples and one chunk,
    whatever the file's size.

    Each epoch visits the chunks (``buffer // 4`` contiguous samples) in a random order and draws
    every batch at random from a shuffle buffer of ``buffer`` samples, so each sample is seen once
    per epoch; the larger the buffer, the closer the order is to a full shuffle.

    Parameters
    ----------
    split : Split or str
        The file (any layout pdekit reads) and its sample range.
    task : PairTask
        Which pairs a time-dependent file gives, as for ``load_pairs``.
    buffer : int
        Samples held in the shuffle buffer (at least the batch size).
    """

    def __init__(self, split: "Split | str | os.PathLike", task: PairTask = PairTask(), buffer: int = 1024):
        split = split if isinstance(split, Split) else Split(os.fspath(split))
        f, source = open_source(split.path)
        with f:
            count = sample_count(split.path, source.n, split.start, split.count)
            check_pairs(source, task)
            with reading(split.path):
                x, y = read_pairs(source, split.start, 1, task)
                last = read_pairs(source, split.start + count - 1, 1, task)
            # with the first and last samples' bytes, a file rewritten with other values is other data
            # (a digest of every byte would read the whole file, which streaming avoids)
            identity = (f"{source.layout} {source.n} {source.attrs.get('config')} {os.path.getsize(split.path)} "
                        f"{_digest(*(torch.from_numpy(a) for a in (x, y, *last)))}")
        if buffer < 1:
            raise DataFileError(f"the shuffle buffer must hold at least one sample, got {buffer}")
        self.path, self.start, self.n = split.path, split.start, count
        self.task = task
        self.buffer, self.chunk = buffer, max(1, buffer // 4)
        self.n_chunks = -(-count // self.chunk)
        self.sample_shapes = (x.shape[1:], y.shape[1:])
        self.channels, self.ndim = (x.shape[1], y.shape[1]), x.ndim - 2
        self.identity = f"{identity} {split.start} {count} {self.task}"

    def __len__(self) -> int:
        return self.n

    def _chunks(self, order) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        f, source = open_source(self.path)
        with f:
            for c in order:
                start = self.start + int(c) * self.chunk
                with reading(self.path):
                    x, y = read_pairs(source, start, min(self.chunk, self.start + self.n - start), self.task)
                check_finite(self.path, start, inputs=x, targets=y)
                yield x, y

    def normalizers(self):
        """Per-channel mean and unbiased deviation in float64, merged chunk by chunk (Chan et al.),
        equal to ``Normalizer.fit`` on the whole data up to rounding."""
        moments = [None, None]
        for arrays in self._chunks(range(self.n_chunks)):
            for i, a in enumerate(arrays):
                moments[i] = _merge(moments[i], _moments(torch.from_numpy(a)))
        return tuple(_normalizer(m) for m in moments)

    def batches(self, batch_size, generator):
        if batch_size > self.buffer:
            raise DataFileError(f"the shuffle buffer ({self.buffer} samples) must hold a batch ({batch_size})")
        xs = torch.empty((self.buffer, *self.sample_shapes[0]))
        ys = torch.empty((self.buffer, *self.sample_shapes[1]))
        fill = 0
        for x, y in self._chunks(torch.randperm(self.n_chunks, generator=generator)):
            x, y = torch.from_numpy(x), torch.from_numpy(y)
            while len(x):
                if fill == self.buffer:
                    yield _take(xs, ys, fill, batch_size, generator)
                    fill -= batch_size
                room = min(self.buffer - fill, len(x))
                xs[fill : fill + room], ys[fill : fill + room] = x[:room], y[:room]
                x, y, fill = x[room:], y[room:], fill + room
        while fill:
            b = min(batch_size, fill)
            yield _take(xs, ys, fill, b, generator)
            fill -= b

    def fingerprint(self):
        return hashlib.sha256(self.identity.encode()).hexdigest()[:16]


def _take(xs: torch.Tensor, ys: torch.Tensor, fill: int, b: int, generator) -> Batch:
    """Remove b random samples of the first ``fill`` of the buffer and return them; the survivors
    are moved into the holes so the buffer stays packed at the front."""
    chosen = torch.randperm(fill, generator=generator)[:b]
    out = xs[chosen].clone(), ys[chosen].clone()
    keep = fill - b
    holes = chosen[chosen < keep]
    tail = torch.arange(keep, fill)
    movers = tail[~torch.isin(tail, chosen)]
    xs[holes], ys[holes] = xs[movers], ys[movers]
    return out


def _moments(a: torch.Tensor):
    """(count, mean, sum of squared deviations) per channel of (n, c, *space) data, in float64."""
    dims = [d for d in range(a.ndim) if d != 1]
    a = a.double()
    mean = a.mean(dim=dims)
    shape = (1, -1) + (1,) * (a.ndim - 2)
    return a.numel() // a.shape[1], mean, (a - mean.view(shape)).pow(2).sum(dim=dims)


def _normalizer(moments) -> Normalizer:
    """The Normalizer of merged (count, mean, M2): the unbiased deviation, as Normalizer.fit takes it."""
    count, mean, m2 = moments
    return Normalizer.of_moments(mean, (m2 / (count - 1)).sqrt())


def _merge(a, b):
    """Chan et al.'s pairwise merge of two (count, mean, M2) triples."""
    if a is None:
        return b
    (na, ma, sa), (nb, mb, sb) = a, b
    n = na + nb
    delta = mb - ma
    return n, ma + delta * nb / n, sa + sb + delta.pow(2) * na * nb / n


def _digest(*tensors: torch.Tensor) -> str:
    """A short sha256 of tensors' shapes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
