"""Batches by step number, from images held in memory as uint8: no per-image Python work."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vaegan.errors import DataError
from vaegan.images import to_model

FLIP_STREAM = 1 << 40  # offsets the flip draws' seeds from those of the batch order


def stream_seed(seed: int, index: int, stream: int = 0) -> int:
    """The seed of draw `index` (an epoch, a step) of a run seeded `seed`: a function of the
    three alone, so that a resumed run needs no generator state. `stream` keeps different
    kinds of draws (batch order, flips) apart."""
    return stream + seed * 1_000_003 + index


class Batches:
    """Batch `step` is a function of (seed, step) alone, so a resumed run sees the same data.

    Each epoch is a fresh permutation drawn from a generator seeded by (seed, epoch); the last
    partial batch of an epoch is dropped so that every batch has the same size. With `flip`, a
    random half of each batch is mirrored left-right, on the batched tensor. `conditions`
    (N, K), for conditional models, are batched alongside (a mirrored image keeps its own).
    """

    def __init__(
        self,
        images: np.ndarray,
        batch_size: int,
        *,
        seed: int,
        device: torch.device,
        flip: bool = False,
        conditions: np.ndarray | None = None,
    ) -> None:
        if batch_size > len(images):
            raise DataError(f"batch size {batch_size} exceeds the {len(images)} training images")
        # The whole uint8 set lives on the device: 61 MB for Fashion-MNIST at 32x32.
        self.images = torch.from_numpy(images).to(device)
        self.conditions = None if conditions is None else torch.from_numpy(conditions).to(device)
        self.batch_size = batch_size
        self.seed = seed
        self.flip = flip
        self.per_epoch = len(images) // batch_size
        self._epoch, self._order = -1, torch.empty(0)

    def order(self, epoch: int) -> Tensor:
        """The permutation (N,) of `epoch` on the device, drawn from (seed, epoch); cached."""
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(stream_seed(self.seed, epoch))
            perm = torch.randperm(len(self.images), generator=g)
            self._epoch, self._order = epoch, perm.to(self.images.device)
        return self._order

    def index(self, step: int) -> Tensor:
        """Indices (batch_size,) of batch `step`'s images: a slice of its epoch's permutation."""
        epoch, i = divmod(step, self.per_epoch)
        return self.order(epoch)[i * self.batch_size : (i + 1) * self.batch_size]

    def condition(self, step: int) -> Tensor | None:
        """float (B, K): the condition of batch `step`'s images (None without conditions)."""
        return None if self.conditions is None else self.conditions[self.index(step)]

    def __call__(self, step: int) -> Tensor:
        """float (B, C, H, W) in [-1, 1]."""
        x = to_model(self.images[self.index(step)])
        if self.flip:
            g = torch.Generator().manual_seed(stream_seed(self.seed, step, FLIP_STREAM))
            mirrored = torch.rand(self.batch_size, generator=g).lt(0.5).to(x.device)
            x = torch.where(mirrored[:, None, None, None], x.flip(3), x)
        return x
