"""Decode image files (JPEG, PNG, ...) in parallel into one uint8 array, preprocessed.

Pillow releases the GIL while it decodes, so a thread pool decodes on every core without the
cost of pickling images between processes. Resampling then runs batched (transform.resample).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

import numpy as np
from PIL import Image, UnidentifiedImageError

from vaegan.data.dataset import left_out
from vaegan.data.transform import Box, LoadOptions, center_box, crop, resample
from vaegan.errors import DataError
from vaegan.progress import bar as progress_bar

CHUNK = 256  # images decoded, then resampled, together
# What Pillow raises for a file that is not an image, or a corrupt or truncated one.
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
)
# What reading a file, or a member of a zip archive, raises when it cannot be read whole.
READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
SKIP_HINT = "pass --skip-bad-images to leave such images out (they are listed)"
# Images are shrunk to the model's size anyway: 4096x4096 bounds one decode to 50 MB of RGB
# (Pillow's own bomb limit lets a 12000x12000 PNG allocate gigabytes).
MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class ImageSource:
    """One image to decode: `name` is what errors show (a path, or ARCHIVE:MEMBER)."""

    name: str
    read: Callable[[], bytes]


def check_dimensions(source: ImageSource, size: tuple[int, int]) -> None:
    """Refuse an image of more than MAX_PIXELS pixels (4096x4096) before decoding it; `size` is
    (width, height) from its header."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise DataError(
            f"{source.name}: {width}x{height} pixels, more than the {MAX_PIXELS:,} an image may "
            f"have here (images are shrunk to the model's size anyway); {SKIP_HINT}"
        )


def decode_one(source: ImageSource, mode: str) -> np.ndarray:
    """(H, W, C) uint8; raises DataError naming the file if it cannot be read or decoded whole."""
    try:
        data = source.read()
    except READ_ERRORS as err:
        raise DataError(f"{source.name}: cannot read it ({err}); {SKIP_HINT}") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            check_dimensions(source, image.size)  # from the header, before any pixel is decoded
            image.load()  # decodes everything now: a truncated file fails here, not later
            array = np.asarray(image.convert(mode))
    except DECODE_ERRORS as err:
        raise DataError(
            f"{source.name}: cannot decode the image, it is corrupt or truncated "
            f"({pillow_reason(err)}); {SKIP_HINT}"
        ) from None
    return array[..., None] if array.ndim == 2 else array


def pillow_reason(err: Exception) -> str:
    """Pillow's complaint without the in-memory file's repr ("<_io.BytesIO object at 0x...>")."""
    if isinstance(err, UnidentifiedImageError):
        return "not an image format Pillow reads"
    return re.sub(r" ?<_io\.\w+ object at 0x[0-9a-f]+>", "", str(err)) or type(err).__name__


def decode_images(
    sources: Iterable[ImageSource],
    total: int,
    options: LoadOptions,
    box: Callable[[int, int], Box | None] | None = None,
    *,
    desc: str = "decoding",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images (N', S, S, C), the indices (N',) of the sources they come from, and notes.

    `box(height, width)` gives each image's crop (None: `options.crop` decides). Unreadable images
    raise DataError, or with options.skip_bad_images are left out and reported. The output is
    allocated once, so building a data set needs its size in memory, not twice that.
    """
    mode = "L" if options.channels == 1 else "RGB"
    pick_box = box or default_box(options)
    size = options.image_size
    out = np.empty((total, size, size, options.channels), dtype=np.uint8)
    kept: list[int] = []
    bad: list[str] = []
    sizes = SizeCheck(options)
    it: Iterator[ImageSource] = iter(sources)
    workers = min(8, os.cpu_count() or 1)
    with (
        ThreadPoolExecutor(workers) as pool,
        progress_bar(total=total, desc=desc, unit="img", enabled=progress) as bar,
    ):
        start = 0
        while chunk := list(islice(it, CHUNK)):
            results = pool.map(lambda s: try_decode(s, mode, options.skip_bad_images), chunk)
            cropped: list[np.ndarray] = []
            for i, (source, image) in enumerate(zip(chunk, results, strict=True)):
                if image is None:
                    bad.append(source.name)
                    continue
                try:
                    image = crop(image[None], pick_box(*image.shape[:2]))[0]
                except DataError as err:
                    raise DataError(f"{source.name}: {err}") from None
                sizes.check(source.name, image.shape)
                cropped.append(image)
                kept.append(start + i)
            first = len(kept) - len(cropped)  # where this chunk's kept images go in `out`
            for j, image in enumerate(resample_all(cropped, options)):
                out[first + j] = image
            start += len(chunk)
            bar.update(len(chunk))
    notes = left_out(bad, "unreadable image(s)")
    if not kept:
        raise DataError(f"{desc}: {'no readable images' if bad else 'the split has no images'}")
    return out[: len(kept)], np.asarray(kept, dtype=np.int64), notes


def try_decode(source: ImageSource, mode: str, skip_bad: bool) -> np.ndarray | None:
    """decode_one's image, or None for a bad image when `skip_bad`; otherwise its DataError."""
    try:
        return decode_one(source, mode)
    except DataError:
        if skip_bad:
            return None
        raise


def default_box(options: LoadOptions) -> Callable[[int, int], Box | None]:
    """Image folders: "auto" means the centred square, so faces and objects keep their aspect."""
    if options.crop in ("auto", "center"):
        return center_box
    return lambda height, width: None


def resample_all(images: list[np.ndarray], options: LoadOptions) -> list[np.ndarray]:
    """Resample images of equal shape together; return them in order."""
    if not options.resize:
        return images
    result: list[np.ndarray | None] = [None] * len(images)
    shapes: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        shapes.setdefault(image.shape, []).append(i)
    for indices in shapes.values():
        batch = resample(np.stack([images[i] for i in indices]), options.image_size)
        for i, image in zip(indices, batch, strict=True):
            result[i] = image
    return result  # type: ignore[return-value]


class SizeCheck:
    """Without resizing, every image must already be image_size square: say which is not."""

    def __init__(self, options: LoadOptions) -> None:
        self.options = options
        self.first: tuple[str, tuple[int, ...]] | None = None

    def check(self, name: str, shape: tuple[int, ...]) -> None:
        """With resizing off: DataError if this cropped image's (H, W) differs from the first one's
        or from image_size square."""
        if self.options.resize:
            return
        if self.first is None:
            self.first = (name, shape)
        first_name, first_shape = self.first
        if shape[:2] != first_shape[:2]:
            raise DataError(
                f"images of mixed sizes (after cropping): {first_name} is {first_shape[0]}x"
                f"{first_shape[1]}, {name} is {shape[0]}x{shape[1]}; turn resizing on (drop "
                "--no-resize) to bring them to one size"
            )
        size = self.options.image_size
        if shape[:2] != (size, size):
            raise DataError(
                f"{name} is {shape[0]}x{shape[1]} (after cropping) but the model is {size}x{size} "
                f"and resizing is off; pass --image-size {shape[0]} or drop --no-resize"
            )
