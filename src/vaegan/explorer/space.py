"""The latent space the explorer shows: where a code comes from, the directions its sliders move
along, and the images those codes decode to. No HTTP here: `vaegan.explorer.app` serves it.

Directions: the run's class or attribute vectors (RUN/vectors.safetensors when it fits the model,
otherwise computed from the first training images and kept in memory), and the top principal
directions of the encoded test images, each scaled to one standard deviation of the codes along it.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vaegan.attributes import AttributeVectors, compute_attribute_vectors
from vaegan.checkpoint import load_model
from vaegan.data import load_run_data
from vaegan.data.decode import ImageSource, decode_one
from vaegan.data.transform import center_box, crop, resample
from vaegan.errors import VaeganError
from vaegan.images import to_model, to_uint8
from vaegan.latent import interpolate, require_unconditional

TEST_IMAGES = 2_000  # encoded for the principal directions; the first ones are offered to pick
PRINCIPAL = 8  # principal directions offered as sliders
SLIDER_LIMIT = 5.0  # slider values lie in [-5, 5] (standard deviations, or vector lengths)
MAX_UPLOAD_BYTES = 5 * 2**20
MAX_UPLOADS = 64  # encoded uploads kept (the oldest is dropped first)
MAX_STEPS = 16  # images in an interpolation strip


class BadRequest(VaeganError):
    """A request the explorer cannot serve: its message is shown to the user (HTTP 400)."""


class TooLarge(BadRequest):
    """A request over a size limit (HTTP 413)."""


@dataclass(frozen=True)
class Direction:
    """A slider's direction in z: an attribute vector, or a principal direction of the test codes
    scaled to one standard deviation."""

    name: str
    kind: str  # "class", "binary", "real" (attribute vectors) or "principal"
    vector: Tensor  # (z,)


class LatentSpace:
    """A run's model with its encoded test images, slider directions and uploaded codes: the
    explorer's state, shared by every request."""

    def __init__(self, run: Path, device: torch.device, cache_dir: Path | None = None) -> None:
        self.run = Path(run)
        self.model, self.cfg = load_model(run, device)
        require_unconditional(self.model, "the explorer")
        test = load_run_data(self.cfg, "test", cache_dir=cache_dir, progress=False)
        self.test_images = test.images[:TEST_IMAGES]
        self.test_codes = self.encode(self.test_images)
        self.directions = {d.name: d for d in self.vectors(cache_dir) + self.principal()}
        self.uploads: OrderedDict[str, Tensor] = OrderedDict()
        self.uploaded = itertools.count()
        self.lock = threading.Lock()  # one pass of the model at a time: browsers share it

    @torch.inference_mode()
    def encode(self, images: np.ndarray) -> Tensor:
        """Codes mu(x) (N, z) of uint8 images (N, H, W, C), encoded 500 at a time."""
        return torch.cat(
            [
                self.model.encode(
                    to_model(torch.from_numpy(images[i : i + 500])).to(self.model.device)
                )
                for i in range(0, len(images), 500)
            ]
        )

    def vectors(self, cache_dir: Path | None) -> list[Direction]:
        """The run's attribute vectors if they fit this model, else computed now."""
        saved = self.run / "vectors.safetensors"
        try:
            vectors = AttributeVectors.load(saved)
            vectors.check_model(self.run, self.model)
        except VaeganError:
            data = load_run_data(self.cfg, "train", cache_dir=cache_dir, progress=False)
            if not data.class_names and not data.attribute_names:
                return []
            vectors = compute_attribute_vectors(self.model, data, self.run, split="train")
        return [
            Direction(name, vectors.kind, v.float())
            for name, v in zip(vectors.names, vectors.vectors, strict=True)
        ]

    def principal(self) -> list[Direction]:
        """The top PRINCIPAL directions of the centred test codes (SVD), one std long each."""
        centred = self.test_codes - self.test_codes.mean(0)
        _, s, vt = torch.linalg.svd(centred.double(), full_matrices=False)
        std = s / (len(centred) - 1) ** 0.5
        count = min(PRINCIPAL, len(s))
        return [
            Direction(f"PC{k + 1}", "principal", (vt[k] * std[k]).float()) for k in range(count)
        ]

    # ---- codes ------------------------------------------------------------------------------

    def code(self, base: dict) -> Tensor:
        """(z,) from {"seed": int} (a draw from the run's prior), {"test": index} or
        {"upload": id}."""
        if not isinstance(base, dict) or len(base) != 1:
            raise BadRequest('base must be one of {"seed": N}, {"test": N}, {"upload": ID}')
        ((kind, value),) = base.items()
        if kind == "seed":
            seed = whole_number(value, 0, 2**31 - 1, "seed")
            g = torch.Generator(device=self.model.device).manual_seed(seed)
            return self.model.draw_codes(1, g)[0]
        if kind == "test":
            return self.test_codes[whole_number(value, 0, len(self.test_codes) - 1, "test image")]
        if kind == "upload":
            with self.lock:  # an upload may be evicting the oldest meanwhile
                code = self.uploads.get(value) if isinstance(value, str) else None
            if code is None:
                raise BadRequest(
                    "unknown upload (uploads are kept while the server runs; "
                    "upload the image again)"
                )
            return code
        raise BadRequest(f"unknown base '{kind}' (seed, test or upload)")

    def moved(self, z: Tensor, sliders: dict) -> Tensor:
        """z + value * direction for each {name: value} slider; BadRequest for an unknown name or a
        value outside [-SLIDER_LIMIT, SLIDER_LIMIT]."""
        if not isinstance(sliders, dict):
            raise BadRequest("sliders must be an object {name: value}")
        for name, value in sliders.items():
            if name not in self.directions:
                raise BadRequest(f"unknown slider '{name}' (known: {', '.join(self.directions)})")
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (-SLIDER_LIMIT <= value <= SLIDER_LIMIT)
            ):
                raise BadRequest(
                    f"slider '{name}' must be a number in [-{SLIDER_LIMIT:g}, "
                    f"{SLIDER_LIMIT:g}], got {value!r}"
                )
            z = z + float(value) * self.directions[name].vector.to(z)
        return z

    # ---- images -----------------------------------------------------------------------------

    def render(self, base: dict, sliders: dict) -> bytes:
        """PNG of the image decoded from `base`'s code moved by `sliders`."""
        z = self.moved(self.code(base), sliders)
        return png(self.decode(z[None]))

    def decode(self, z: Tensor) -> np.ndarray:
        """uint8 images (N, H, W, C) from codes (N, z); one model pass at a time across requests."""
        with self.lock, torch.inference_mode():
            return to_uint8(self.model.decode(z))

    def test_image(self, index: int) -> bytes:
        """PNG of test image `index` at the model's size; BadRequest if it is out of range."""
        return png(
            self.test_images[whole_number(index, 0, len(self.test_images) - 1, "test image")][None]
        )

    def strip(self, a: dict, b: dict, steps: int, mode: str) -> bytes:
        """Decoded images along the path from code a to code b, ends included, in a row."""
        if mode not in ("linear", "spherical"):
            raise BadRequest(f"mode must be linear or spherical, got {mode!r}")
        steps = whole_number(steps, 2, MAX_STEPS, "steps")
        return png(self.decode(interpolate(self.code(a), self.code(b), steps, mode)))

    def upload(self, data: bytes, name: str) -> str:
        """Encode an uploaded image (any size and format Pillow reads) at the model's size."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise TooLarge(
                f"{name}: {len(data):,} bytes, more than the {MAX_UPLOAD_BYTES:,} "
                "an upload may have"
            )
        mode = "L" if self.cfg.model.channels == 1 else "RGB"
        try:
            image = decode_one(ImageSource(name, lambda: data), mode)
        except VaeganError as err:
            raise BadRequest(str(err).split("; pass --skip-bad-images")[0]) from None
        square = crop(image[None], center_box(image.shape[0], image.shape[1]))
        fitted = resample(square, self.cfg.model.image_size)
        with self.lock:
            key = f"upload-{next(self.uploaded)}"
            self.uploads[key] = self.encode(fitted)[0]
            while len(self.uploads) > MAX_UPLOADS:
                self.uploads.popitem(last=False)
        return key


def whole_number(value: object, low: int, high: int, what: str) -> int:
    """`value` if it is an int (not a bool) in [low, high]; BadRequest naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{what} must be a whole number in [{low}, {high}], got {value!r}")
    return value


def png(images: np.ndarray) -> bytes:
    """uint8 (N, H, W, C) in a row, as PNG bytes."""
    row = np.concatenate(list(images), axis=1)
    image = Image.fromarray(row[..., 0] if row.shape[-1] == 1 else row)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
