"""Data sets behind one small interface: uint8 images (N, H, W, C) with optional class labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vaegan.data.dataset import Dataset
from vaegan.data.idx import load_idx_dataset
from vaegan.errors import DataError

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_CLASSES = tuple(str(d) for d in range(10))


def _mnist_family(name: str, default_dir: str, classes: tuple[str, ...]) -> Callable[..., Dataset]:
    def load(data_dir: str | None, split: str) -> Dataset:
        root = Path(data_dir or default_dir)
        # 28x28 padded to 32x32 with background: the 32 px networks of the code apply unchanged.
        return load_idx_dataset(name, root, split, classes=classes, pad_to=32)

    return load


# name -> loader(data_dir, split)
DATASETS: dict[str, Callable[..., Dataset]] = {
    "fashion-mnist": _mnist_family(
        "fashion-mnist", "/usr/share/datasets/fashion-mnist", FASHION_MNIST_CLASSES
    ),
    "mnist": _mnist_family("mnist", "/usr/share/datasets/mnist", MNIST_CLASSES),
}
SPLITS = ("train", "test")


def load_dataset(name: str, data_dir: str | None = None, split: str = "train") -> Dataset:
    """Load split `split` of data set `name` from `data_dir` (None: its default directory)."""
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}' (known: {', '.join(sorted(DATASETS))})")
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' for {name} (known: {', '.join(SPLITS)})")
    return DATASETS[name](data_dir, split)


__all__ = ["DATASETS", "Dataset", "load_dataset"]
