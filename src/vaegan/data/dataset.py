"""The data-set interface that training, evaluation and the latent tools share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vaegan.errors import DataError
from vaegan.progress import logger

HELD_OUT_FRACTION = 0.1  # test share of splits we draw ourselves (LFW, image folders)


def report(message: str) -> None:
    """Tell the user about data left out or rebuilt: never silently."""
    logger.warning(message)


def left_out(names: list[str], what: str) -> tuple[str, ...]:
    """Report items a loader left out; the note is kept with the data set."""
    if not names:
        return ()
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    note = f"left out {len(names)} {what}: {shown}"
    report(note)
    return (note,)


@dataclass(frozen=True)
class Dataset:
    """Images as one uint8 array (N, H, W, C), held in memory, with optional annotations.

    labels: class ids (N,), named by `class_names`.
    attributes: float32 (N, A), named by `attribute_names`; "binary" ones are 0/1 (CelebA's -1/1
    mapped to 0/1), "real" ones are scores (LFW).
    notes: what the loader left out and why (reported when built, kept in the cache).
    fingerprint: SHA-256 of the cached images, to key caches derived from them (None: uncached).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    attributes: np.ndarray | None = None
    attribute_names: tuple[str, ...] = ()
    attribute_kind: Literal["binary", "real"] | None = None
    notes: tuple[str, ...] = ()
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")
        if self.attributes is not None:
            if self.attributes.shape != (len(self.images), len(self.attribute_names)):
                raise ValueError("attributes must be (N, len(attribute_names))")
            if self.attribute_kind not in ("binary", "real"):
                raise ValueError("attribute_kind must be 'binary' or 'real' with attributes")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        """Side of the images in pixels, H of (N, H, W, C); the loaders make them square."""
        return self.images.shape[1]

    @property
    def channels(self) -> int:
        """C of (N, H, W, C): 1 (grey) or 3 (RGB)."""
        return self.images.shape[3]

    def annotation(self, why: str) -> tuple[Literal["class", "binary", "real"], tuple[str, ...]]:
        """What the images are annotated with, class labels first: (kind, names). The evaluator,
        attribute vectors and conditional models all take it from here; `why` ends the error
        when there is none."""
        if self.labels is not None and self.class_names:
            return "class", self.class_names
        if self.attributes is not None:
            return self.attribute_kind, self.attribute_names
        raise DataError(f"data set '{self.name}' has neither class labels nor attributes: {why}")
