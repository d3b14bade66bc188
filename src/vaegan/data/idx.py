"""IDX files (MNIST, Fashion-MNIST and kin), gzip-compressed or raw, read whole into memory."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaegan.data.dataset import Dataset
from vaegan.errors import DataError

# The third byte of the magic number gives the element type; we read unsigned bytes only.
IDX_UBYTE = 0x08
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes; the array's shape comes from its header."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (wrong magic {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated or has {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{path}: {problem}: header {shape} needs {expected} bytes, the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_file(root: Path, stem: str) -> Path:
    """`stem` or `stem.gz` in `root`: the two forms in which the files are distributed."""
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"{root / stem}[.gz]: file not found")


def load_idx_dataset(
    name: str,
    root: Path,
    split: str,
    *,
    classes: tuple[str, ...] = (),
    pad_to: int | None = None,
) -> Dataset:
    """Images and labels of an MNIST-style split; `pad_to` pads with zeros (background) centred."""
    if not root.is_dir():
        raise DataError(
            f"{root}: data directory not found (for Fashion-MNIST: "
            "`apt-get install dataset-fashion-mnist`, or pass --data-dir)"
        )
    prefix = SPLIT_PREFIX[split]
    images_path = find_idx_file(root, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx_file(root, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected (N, H, W) images, header says {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected (N,) labels, header says {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    if pad_to is not None and pad_to > images.shape[1]:
        before = (pad_to - images.shape[1]) // 2
        after = pad_to - images.shape[1] - before
        images = np.pad(images, ((0, 0), (before, after), (before, after)))
    return Dataset(
        name=name, images=images[..., None], labels=labels.astype(np.int64),
        class_names=classes,
    )  # fmt: skip
