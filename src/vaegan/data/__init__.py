"""Data sets behind one small interface: uint8 images (N, H, W, C) with optional class labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vaegan.data.dataset import Dataset
from vaegan.data.idx import load_idx_dataset
from vaegan.errors import DataError

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_CLASSES = tuple(str(d) for d in range(10))
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """How to load a named data set, and the image shape its loader yields."""

    load: Callable[[Path, str], Dataset]  # (directory, split) -> Dataset
    default_dir: str
    image_size: int
    channels: int


def _mnist_family(name: str, classes: tuple[str, ...]) -> Callable[[Path, str], Dataset]:
    def load(root: Path, split: str) -> Dataset:
        # 28x28 padded to 32x32 with background: the code's 32 px networks apply unchanged.
        return load_idx_dataset(name, root, split, classes=classes, pad_to=32)

    return load


DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        _mnist_family("fashion-mnist", FASHION_MNIST_CLASSES),
        "/usr/share/datasets/fashion-mnist", image_size=32, channels=1,
    ),
    "mnist": DatasetSpec(
        _mnist_family("mnist", MNIST_CLASSES),
        "/usr/share/datasets/mnist", image_size=32, channels=1,
    ),
}  # fmt: skip


def load_dataset(name: str, data_dir: str | None = None, split: str = "train") -> Dataset:
    """Load split `split` of data set `name` from `data_dir` (None: its default directory)."""
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}' (known: {', '.join(sorted(DATASETS))})")
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' for {name} (known: {', '.join(SPLITS)})")
    spec = DATASETS[name]
    return spec.load(Path(data_dir or spec.default_dir), split)


__all__ = ["DATASETS", "Dataset", "DatasetSpec", "load_dataset"]
