"""CelebA, aligned and cropped, as distributed (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html).

DIR/img_align_celeba/000001.jpg ... (or DIR/img_align_celeba.zip, read without extracting),
DIR/list_attr_celeba.txt: line 1 the image count, line 2 the 40 attribute names, then one line
per image: its file name and 40 values of 1 or -1, separated by one or more spaces;
DIR/list_eval_partition.txt: `file split` per line, split 0 = train, 1 = val, 2 = test.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from vaegan.data.dataset import Dataset
from vaegan.data.decode import ImageSource, decode_images
from vaegan.data.transform import Box, LoadOptions, box_choice
from vaegan.errors import DataError

SPLITS = ("train", "val", "test", "trainval")
PARTITIONS = {"train": {0}, "val": {1}, "test": {2}, "trainval": {0, 1}}
IMAGES_DIR, IMAGES_ZIP = "img_align_celeba", "img_align_celeba.zip"
ATTRIBUTES, PARTITION = "list_attr_celeba.txt", "list_eval_partition.txt"
# METHOD.md §5.1: rows 40..188 and columns 15..163 of the aligned 218x178 image.
ALIGNED_SHAPE = (218, 178)
PAPER_BOX: Box = (40, 15, 148, 148)


def celeba_inputs(root: Path, split: str = "") -> list[Path]:
    """The image folder (or zip), the attribute file and the partition file."""
    images = next((p for p in (root / IMAGES_DIR, root / IMAGES_ZIP) if p.exists()), None)
    if images is None:
        raise DataError(
            f"{root}: neither {IMAGES_DIR}/ nor {IMAGES_ZIP} found (see `vaegan data download "
            "celeba` for the files CelebA needs)"
        )
    for name in (ATTRIBUTES, PARTITION):
        if not (root / name).is_file():
            raise DataError(f"{root / name}: file not found (CelebA's annotation files)")
    return [images, root / ATTRIBUTES, root / PARTITION]


def read_attributes(path: Path) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Attribute names and, per file name, its values as int8 of 1 / -1."""
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise DataError(f"{path}: needs a count line and a line of attribute names")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path}, line 1: expected the image count, got {lines[0]!r}") from None
    names = tuple(lines[1].split())
    rows: dict[str, np.ndarray] = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        values = fields[1:]
        if len(values) != len(names):
            raise DataError(
                f"{path}, line {number}: {len(values)} attribute values, expected {len(names)}"
            )
        if any(v not in ("1", "-1") for v in values):
            raise DataError(f"{path}, line {number}: attribute values must be 1 or -1")
        if fields[0] in rows:
            raise DataError(f"{path}, line {number}: a second row for {fields[0]}")
        rows[fields[0]] = np.array(values, dtype=np.int8)
    if len(rows) != count:
        raise DataError(f"{path}: line 1 says {count} images but the file has {len(rows)} rows")
    return names, rows


def read_partition(path: Path, known: set[str], images_source: Path) -> list[tuple[str, int]]:
    """(file name, split id) in file order; every name must be an image that exists."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{path}, line {number}: expected 'FILE SPLIT' with split 0, 1 or 2")
        if fields[0] not in known:
            raise DataError(
                f"{path}, line {number}: names {fields[0]}, which is not in {images_source}"
            )
        entries.append((fields[0], int(fields[1])))
    return entries


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip archive at `path`; DataError naming it if it is truncated, corrupt or unreadable."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        problem = f"not a readable zip archive, truncated or corrupt ({err})"
        raise DataError(f"{path}: {problem}") from None


def load_celeba(root: Path, split: str, options: LoadOptions, progress: bool = True) -> Dataset:
    """The split's images (by list_eval_partition.txt) with the 40 attributes as binary 0/1; cropped
    by default to METHOD.md §5.1's 148x148 box."""
    images_path, attributes_path, partition_path = celeba_inputs(root, split)
    names, rows = read_attributes(attributes_path)
    archive = open_zip(images_path) if images_path.suffix == ".zip" else None
    try:
        if archive is not None:
            members = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}
        else:
            members = {p.name: str(p) for p in images_path.iterdir()}
        entries = read_partition(partition_path, set(members), images_path)
        files = [f for f, s in entries if s in PARTITIONS[split]]
        missing = [f for f in files if f not in rows]
        if missing:
            raise DataError(
                f"{attributes_path}: has no row for {missing[0]} ({len(missing)} missing)"
            )

        def source(file: str) -> ImageSource:
            if archive is not None:
                member = members[file]
                return ImageSource(f"{images_path}:{member}", lambda: archive.read(member))
            return ImageSource(members[file], lambda: Path(members[file]).read_bytes())

        box = box_choice(options, PAPER_BOX, ALIGNED_SHAPE, "aligned CelebA")
        images, kept, notes = decode_images(
            (source(f) for f in files),
            len(files),
            options,
            box,
            desc=f"celeba/{split}",
            progress=progress,
        )
    finally:
        if archive is not None:
            archive.close()
    values = np.stack([rows[files[i]] for i in kept])
    return Dataset(
        name="celeba",
        images=images,
        attributes=(values > 0).astype(np.float32),
        attribute_names=names,
        attribute_kind="binary",
        notes=notes,
    )
