"""IDX files (MNIST, Fashion-MNIST and kin), gzip-compressed or raw, read into memory."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vaegan.data.dataset import Dataset
from vaegan.data.transform import LoadOptions, center_box, preprocess_array
from vaegan.errors import DataError

# The third byte of the magic number gives the element type; we read unsigned bytes only.
IDX_UBYTE = 0x08
MAX_IDX_BYTES = 16 * 2**30  # 16 GiB: far beyond any IDX data set (EMNIST's largest: 0.7 GB)
SPLIT_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes; the array's shape comes from its header.

    Only as many bytes as the header declares are read (plus one, to notice trailing data), so
    a small .gz that inflates to gigabytes is refused after reading what was promised.
    """
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            shape, header = read_idx_header(f, path)
            size = math.prod(shape)  # Python ints: a hostile header cannot overflow it
            if size > MAX_IDX_BYTES:
                raise DataError(
                    f"{path}: its header declares {shape}, {size:,} bytes "
                    f"(more than {MAX_IDX_BYTES:,}): not a data set of images"
                )
            if path.suffix != ".gz" and path.stat().st_size != header + size:
                raise wrong_size(path, shape, header + size, path.stat().st_size)
            body = read_at_most(f, size + 1)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    if len(body) != size:
        raise wrong_size(
            path, shape, header + size, header + len(body) if len(body) < size else None
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def wrong_size(path: Path, shape: tuple[int, ...], expected: int, has: int | None) -> DataError:
    """has: the file's length, None when only "more than expected" is known."""
    if has is not None and has < expected:
        problem, length = "truncated", str(has)
    else:
        problem, length = "longer than its header says", "more" if has is None else str(has)
    return DataError(
        f"{path}: {problem}: header {shape} needs {expected} bytes, the file has {length}"
    )


def read_at_most(f: BinaryIO, n: int, piece: int = 1 << 24) -> bytes:
    """Up to n bytes, read 16 MiB at a time: memory grows with what the file holds, not with
    what its header claims."""
    pieces, have = [], 0
    while have < n:
        chunk = f.read(min(piece, n - have))
        if not chunk:
            break
        pieces.append(chunk)
        have += len(chunk)
    return b"".join(pieces)


def read_idx_header(f: BinaryIO, path: Path) -> tuple[tuple[int, ...], int]:
    """The shape an IDX stream declares, and its header's length in bytes."""
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != IDX_UBYTE:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (wrong magic {magic.hex()})")
    ndim = magic[3]
    dims = f.read(4 * ndim)
    if ndim == 0 or len(dims) < 4 * ndim:
        raise DataError(f"{path}: IDX header is truncated or has {ndim} dimensions")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    return shape, 4 + 4 * ndim


def find_idx_file(root: Path, stem: str) -> Path:
    """`stem` or `stem.gz` in `root`: the two forms in which the files are distributed."""
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"{root / stem}[.gz]: file not found")


def find_any_idx_images(root: Path, split: str) -> Path:
    """The one `*<prefix>-images-idx3-ubyte[.gz]` of a split (as EMNIST and KMNIST name theirs)."""
    found = sorted(
        path
        for prefix in SPLIT_PREFIXES[split]
        for pattern in (f"*{prefix}-images-idx3-ubyte", f"*{prefix}-images-idx3-ubyte.gz")
        for path in root.glob(pattern)
    )
    if len(found) != 1:
        wanted = f"*{SPLIT_PREFIXES[split][0]}-images-idx3-ubyte[.gz]"
        names = ", ".join(p.name for p in found)
        problem = f"{len(found)} files ({names})" if found else "no file"
        raise DataError(f"{root}: {problem} matching {wanted}; expected exactly one")
    return found[0]


def idx_files(root: Path, split: str, *, any_name: bool = False) -> tuple[Path, Path]:
    """(images, labels) files of a split: MNIST's names, or with any_name any IDX pair."""
    if any_name:
        images = find_any_idx_images(root, split)
        stem = images.name.removesuffix(".gz").replace("-images-idx3-", "-labels-idx1-")
        return images, find_idx_file(root, stem)
    prefix = SPLIT_PREFIXES[split][0]
    return (
        find_idx_file(root, f"{prefix}-images-idx3-ubyte"),
        find_idx_file(root, f"{prefix}-labels-idx1-ubyte"),
    )


def load_idx_dataset(
    name: str,
    root: Path,
    split: str,
    options: LoadOptions,
    *,
    classes: tuple[str, ...] = (),
    any_name: bool = False,
) -> Dataset:
    """Images and labels of an IDX pair, preprocessed.

    MNIST and Fashion-MNIST (`classes` given) are 28x28: crop "auto" pads them with background to
    32x32, so the code's 32 px networks apply unchanged, before any resizing.
    """
    images_path, labels_path = idx_files(root, split, any_name=any_name)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected (N, H, W) images, header says {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected (N,) labels, header says {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    images = images[..., None]
    if classes and options.crop == "auto" and images.shape[1] < 32:
        before = (32 - images.shape[1]) // 2
        after = 32 - images.shape[1] - before
        images = np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)))
    box = center_box(*images.shape[1:3]) if options.crop == "center" else None
    images = preprocess_array(images, options, box, str(images_path))
    names = classes or tuple(str(i) for i in range(int(labels.max(initial=0)) + 1))
    return Dataset(name=name, images=images, labels=labels.astype(np.int64), class_names=names)
