"""Any folder of images: optional class subfolders become labels; splits from train/ and test/
subfolders when present, otherwise a seeded 90/10 split of the images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vaegan.data.dataset import HELD_OUT_FRACTION, Dataset
from vaegan.data.decode import IMAGE_SUFFIXES, ImageSource, decode_images
from vaegan.data.transform import LoadOptions
from vaegan.errors import DataError

SPLITS = ("train", "test", "all")


def image_files(root: Path) -> list[Path]:
    """The image files under `root`, sorted. Links to files are read; links to folders are not
    followed, so that a link loop cannot send the walk round forever."""
    found = [
        Path(folder) / name
        for folder, _, names in os.walk(root, followlinks=False)
        for name in names
        if Path(name).suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(p for p in found if p.is_file())


def has_split_folders(root: Path) -> bool:
    """True when `root` has both train/ and test/ subfolders, which are then the splits."""
    return (root / "train").is_dir() and (root / "test").is_dir()


def folder_splits(root: Path) -> tuple[str, ...]:
    """With train/ and test/ folders those two; otherwise our own split, and "all"."""
    return ("train", "test") if has_split_folders(root) else SPLITS


def folder_inputs(root: Path, split: str) -> list[Path]:
    """The whole folder, whatever the split: a change to any file beneath it misses the cache."""
    return [root]


def class_names(root: Path, files: list[Path]) -> tuple[str, ...]:
    """Subfolder names when every image sits directly in one of two or more subfolders."""
    root = root.resolve()  # "." and "pets/" alike: the root itself is never a class
    parents = {f.parent.resolve() for f in files}
    if len(parents) >= 2 and all(p != root and p.parent == root for p in parents):
        return tuple(sorted(p.name for p in parents))
    return ()


def split_files(root: Path, split: str, seed: int) -> tuple[Path, list[Path]]:
    """(the folder classes are relative to, the split's files in a fixed order)."""
    if has_split_folders(root):
        return root / split, image_files(root / split)
    files = image_files(root)
    if split == "all":
        return root, files
    is_test = np.zeros(len(files), dtype=bool)
    order = np.random.default_rng(seed).permutation(len(files))
    # At least one test image (two images or more), so that a small folder still trains.
    n_test = max(round(HELD_OUT_FRACTION * len(files)), 1 if len(files) > 1 else 0)
    is_test[order[:n_test]] = True
    return root, [f for f, t in zip(files, is_test, strict=True) if t == (split == "test")]


def load_folder(root: Path, split: str, options: LoadOptions, progress: bool = True) -> Dataset:
    """The split's images, labelled by class subfolder where there are two or more (ids from the
    training images' names); DataError if the split has no image files."""
    base, files = split_files(root, split, options.split_seed)
    if not files:
        raise DataError(f"{base}: no image files ({', '.join(IMAGE_SUFFIXES)}) in split '{split}'")
    # Class names come from all training images, so every split agrees on the label ids.
    reference = root / "train" if has_split_folders(root) else root
    names = class_names(reference, image_files(reference))
    sources = (ImageSource(str(f), lambda f=f: f.read_bytes()) for f in files)
    images, kept, notes = decode_images(
        sources, len(files), options, desc=f"{root.name}/{split}", progress=progress
    )
    labels = None
    if names:
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted({files[i].parent.name for i in kept} - set(index))
        if unknown:
            raise DataError(f"{base / unknown[0]}: a class folder that {reference} lacks")
        labels = np.array([index[files[i].parent.name] for i in kept], dtype=np.int64)
    return Dataset(name="folder", images=images, labels=labels, class_names=names, notes=notes)
