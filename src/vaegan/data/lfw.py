"""LFW (Labeled Faces in the Wild) with the real-valued attributes of Kumar et al.

DIR/lfw/Person_Name/Person_Name_0001.jpg (or lfw-deepfunneled/, or either .tgz as downloaded)
and DIR/lfw_attributes.txt: tab-separated; a first comment line; a header line starting with
`#` that names `person`, `imagenum` and the 73 attributes; then one row per image,
`Person Name<TAB>1<TAB>score...`. Images join rows by (person, image number).
"""

from __future__ import annotations

import math
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vaegan.data.dataset import HELD_OUT_FRACTION, Dataset, left_out
from vaegan.data.decode import ImageSource, decode_images
from vaegan.data.transform import Box, LoadOptions, box_choice
from vaegan.errors import DataError

SPLITS = ("train", "test")  # people-disjoint, drawn from options.split_seed
ATTRIBUTES = "lfw_attributes.txt"
# Deep-funneled images are aligned, the closest to the code's landmark alignment (METHOD.md §5.3).
IMAGE_SOURCES = ("lfw-deepfunneled", "lfw-deepfunneled.tgz", "lfw", "lfw.tgz")
FACE_SHAPE = (250, 250)
CENTER_150: Box = (50, 50, 150, 150)  # METHOD.md §5.3: the centre 150x150 of the 250x250 image

Key = tuple[str, int]  # (person with underscores, image number)


def lfw_inputs(root: Path, split: str = "") -> list[Path]:
    """The images (folder or .tgz, deep-funneled first) and lfw_attributes.txt; DataError if either
    is missing."""
    images = next((root / s for s in IMAGE_SOURCES if (root / s).exists()), None)
    if images is None:
        raise DataError(f"{root}: none of {', '.join(IMAGE_SOURCES)} found (LFW's images)")
    if not (root / ATTRIBUTES).is_file():
        raise DataError(f"{root / ATTRIBUTES}: file not found (LFW's attribute scores)")
    return [images, root / ATTRIBUTES]


def read_attributes(path: Path) -> tuple[tuple[str, ...], dict[Key, np.ndarray]]:
    """Attribute names and each row's float32 scores, keyed by (person, image number)."""
    names: tuple[str, ...] | None = None
    rows: dict[Key, np.ndarray] = {}
    row_line: dict[Key, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.rstrip()  # a trailing tab or CR would otherwise count as a value
        if not line.strip():
            continue
        if line.startswith("#"):
            fields = [f.strip() for f in line.lstrip("#").strip().split("\t")]
            if fields[:2] == ["person", "imagenum"]:
                names = tuple(fields[2:])
            continue
        if names is None:
            raise DataError(
                f"{path}, line {number}: a data row before the header line "
                "('#<TAB>person<TAB>imagenum<TAB>...')"
            )
        person, key, scores = attribute_row(line, len(names), f"{path}, line {number}")
        if key in rows:
            raise DataError(
                f"{path}, line {number}: a second row for {person} {key[1]} "
                f"(the first is line {row_line[key]})"
            )
        rows[key], row_line[key] = scores, number
    if names is None:
        raise DataError(f"{path}: no header line naming person, imagenum and the attributes")
    return names, rows


def attribute_row(line: str, count: int, where: str) -> tuple[str, Key, np.ndarray]:
    """One data row: the person as written, the image's key and `count` finite scores."""
    fields = line.split("\t")
    if len(fields) != 2 + count:
        raise DataError(f"{where}: {len(fields) - 2} attribute values, expected {count}")
    try:
        key = (fields[0].strip().replace(" ", "_"), int(fields[1]))
        scores = np.array([float(v) for v in fields[2:]], dtype=np.float32)
    except ValueError as err:
        raise DataError(f"{where}: {err}") from None
    if not np.isfinite(scores).all():
        raise DataError(f"{where}: scores must be finite numbers")
    return fields[0], key, scores


def image_key(file_name: str) -> Key | None:
    """Person_Name_0001.jpg -> ("Person_Name", 1); None for other files."""
    stem, dot, suffix = file_name.rpartition(".")
    person, _, number = stem.rpartition("_")
    if not dot or suffix.lower() != "jpg" or not person or not number.isdigit():
        return None
    return person, int(number)


def people_disjoint_test(keys: list[Key], seed: int) -> set[str]:
    """People, drawn in a seeded order, whose images first reach HELD_OUT_FRACTION of all."""
    people = sorted({person for person, _ in keys})
    counts = {p: 0 for p in people}
    for person, _ in keys:
        counts[person] += 1
    order = np.random.default_rng(seed).permutation(len(people))
    test, total, wanted = set(), 0, math.ceil(HELD_OUT_FRACTION * len(keys))
    for i in order:
        if total >= wanted:
            break
        test.add(people[i])
        total += counts[people[i]]
    return test


def load_lfw(root: Path, split: str, options: LoadOptions, progress: bool = True) -> Dataset:
    """The split's images with their 73 real-valued attribute scores. Train and test are
    people-disjoint (about 10% of images in test, drawn from split_seed); images without a row and
    rows without an image are left out and reported. Crop: METHOD.md §5.3's centre 150x150."""
    images_path, attributes_path = lfw_inputs(root, split)
    names, rows = read_attributes(attributes_path)
    files = list_images(images_path)  # key -> name inside the folder or archive
    no_row = sorted(name for key, name in files.items() if key not in rows)
    notes = left_out(no_row, f"image(s) without a row in {attributes_path.name}")
    no_image = [f"{p} {n}" for p, n in sorted(set(rows) - set(files))]
    notes += left_out(no_image, f"row(s) of {attributes_path.name} without an image")
    keys = sorted(set(files) & set(rows))
    test_people = people_disjoint_test(keys, options.split_seed)
    keys = [k for k in keys if (k[0] in test_people) == (split == "test")]
    box = box_choice(options, CENTER_150, FACE_SHAPE, "LFW")
    images, kept, unreadable = decode_images(
        read_images(images_path, [files[k] for k in keys]),
        len(keys),
        options,
        box,
        desc=f"lfw/{split}",
        progress=progress,
    )
    attributes = np.stack([rows[keys[i]] for i in kept])
    return Dataset(
        name="lfw",
        images=images,
        attributes=attributes,
        attribute_names=names,
        attribute_kind="real",
        notes=notes + unreadable,
    )


def list_images(source: Path) -> dict[Key, str]:
    """Every Person_Name_NNNN.jpg in the folder or .tgz, by key."""
    if source.is_dir():
        paths = (str(p) for p in sorted(source.rglob("*.jpg")))
    else:
        with open_tgz(source) as tar, archive_errors(source):
            paths = [m.name for m in tar.getmembers() if m.isfile()]
    found = {}
    for path in paths:
        key = image_key(Path(path).name)
        if key is not None:
            found[key] = path
    return found


def read_images(source: Path, order: list[str]) -> Iterator[ImageSource]:
    """ImageSources for these files (paths in the folder or the archive), in this order."""
    wanted = set(order)
    if source.is_dir():
        for path in order:
            yield ImageSource(path, lambda path=path: Path(path).read_bytes())
        return
    # A .tgz is one gzip stream: read it once, in its own order, then yield in ours.
    data: dict[str, bytes] = {}
    with open_tgz(source) as tar, archive_errors(source):
        for member in tar:
            if member.name in wanted:
                data[member.name] = tar.extractfile(member).read()
    for name in order:
        blob = data.pop(name)
        yield ImageSource(f"{source}:{name}", lambda blob=blob: blob)


ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


def open_tgz(path: Path) -> tarfile.TarFile:
    """The gzipped tar archive at `path`; DataError naming it if it cannot be opened."""
    try:
        return tarfile.open(path, "r:gz")
    except ARCHIVE_ERRORS as err:
        raise DataError(f"{path}: not a readable .tgz archive ({err})") from None


@contextmanager
def archive_errors(path: Path) -> Iterator[None]:
    """Turn an error reading the archive at `path` inside the block into a DataError naming it."""
    try:
        yield
    except ARCHIVE_ERRORS as err:
        raise DataError(f"{path}: the archive is truncated or corrupt ({err})") from None
