"""Preprocessing of uint8 image arrays: crop, channel conversion, anti-aliased resampling.

All functions take and return uint8 arrays (N, H, W, C) so that decoded JPEGs, IDX and .mat data
share one path. Resampling runs batched in torch, not per image in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from vaegan.errors import DataError

Crop = Literal["auto", "center", "none"]
# (top, left, height, width) of a crop within an image; None keeps the whole image.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class LoadOptions:
    """What a data set is turned into; every field is part of the data cache's key.

    crop: "auto" is the data set's own (CelebA: METHOD.md §5.1's 148x148 at row 40, column 15;
    LFW: the centre 150x150 of METHOD.md §5.3; image folders: the centred square; otherwise none),
    "center" the largest centred square, "none" the whole image.
    resize: resample to image_size; False requires the images to have that size already.
    split_seed: seeds the held-out split of data sets that have no official one (LFW, folders).
    """

    image_size: int
    channels: int
    crop: Crop = "auto"
    resize: bool = True
    skip_bad_images: bool = False
    split_seed: int = 0


def center_box(height: int, width: int) -> Box:
    """The largest centred square."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def crop(images: np.ndarray, box: Box | None) -> np.ndarray:
    """images (N, H, W, C) cut to box (top, left, height, width); None keeps them whole. DataError
    if the box does not fit."""
    if box is None:
        return images
    top, left, height, width = box
    if top + height > images.shape[1] or left + width > images.shape[2]:
        raise DataError(
            f"crop {height}x{width} at ({top}, {left}) does not fit images of "
            f"{images.shape[1]}x{images.shape[2]}"
        )
    return images[:, top : top + height, left : left + width]


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grey to RGB by repetition; RGB to grey with ITU-R 601-2 luma (as Pillow's convert("L"))."""
    have = images.shape[3]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=3)
    if have == 3 and channels == 1:
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.rint(luma)[..., None].clip(0, 255).astype(np.uint8)
    raise DataError(f"cannot convert {have}-channel images to {channels} channels")


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of std `sigma` pixels, radius ceil(3 sigma) (at least 1): float32
    (2 radius + 1,)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def blur(x: torch.Tensor, sigma_h: float, sigma_w: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), edge pixels repeated beyond the border (as
    scikit-image's gaussian filter, mode "nearest", in the paper's code)."""
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w)
    for sigma, dim in ((sigma_h, 2), (sigma_w, 3)):
        if sigma <= 0:
            continue
        kernel = gaussian_kernel(sigma)
        pad = len(kernel) // 2
        shape = (1, 1, -1, 1) if dim == 2 else (1, 1, 1, -1)
        padding = (0, 0, pad, pad) if dim == 2 else (pad, pad, 0, 0)
        x = F.conv2d(F.pad(x, padding, mode="replicate"), kernel.view(shape))
    return x.reshape(n, c, h, w)


def axis_operator(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix of one axis' resampling: Gaussian blur when shrinking by s > 1
    (sigma = sqrt(s) / 2; CelebA: sqrt(148/64)/2 = 0.76, METHOD.md §5.1), then bicubic
    interpolation. Found by resampling the identity: both steps are linear and separable."""
    basis = torch.eye(n_in).reshape(n_in, 1, n_in, 1)  # n_in one-column images, one per pixel
    sigma = math.sqrt(n_in / n_out) / 2 if n_in > n_out else 0.0
    out = F.interpolate(
        blur(basis, sigma, 0.0), size=(n_out, 1), mode="bicubic", align_corners=False
    )
    return out.reshape(n_in, n_out).T


def resample(images: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased resize of uint8 (N, H, W, C) to (N, size, size, C), as the paper's code:
    blur then bicubic, as two small matrix products per image (A_h X A_w^T), which runs 12x
    faster on the CPU than convolution and interpolation kernels (docs/DATA.md). The code's
    scikit-image resize interpolates with a cubic spline; torch's bicubic kernel (a = -0.75)
    differs from it slightly.
    """
    _, h, w, _ = images.shape
    if (h, w) == (size, size):
        return images
    x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)  # (N, C, H, W)
    x = axis_operator(h, size) @ x @ axis_operator(w, size).T  # (N, C, size, size)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def preprocess_array(
    images: np.ndarray, options: LoadOptions, box: Box | None, source: str
) -> np.ndarray:
    """Crop, channel conversion and resizing of an in-memory set (IDX, .mat), in chunks."""
    images = crop(images, box)
    if not options.resize:
        size = options.image_size
        if images.shape[1:3] != (size, size):
            raise DataError(
                f"{source}: images are {images.shape[1]}x{images.shape[2]} but the model is "
                f"{size}x{size} and resizing is off; pass --image-size {images.shape[1]} or "
                "drop --no-resize"
            )
        return to_channels(images, options.channels)
    # Chunks bound the float copy that resampling makes (SVHN's extra split has 531k images).
    chunks = [
        resample(to_channels(images[i : i + 4096], options.channels), options.image_size)
        for i in range(0, len(images), 4096)
    ]
    return np.concatenate(chunks) if chunks else images


def box_choice(
    options: LoadOptions, paper_box: Box, shape: tuple[int, int], what: str
) -> Callable[[int, int], Box | None]:
    """Crop function for a data set with its own crop ("auto"): images must have its shape."""
    if options.crop == "none":
        return lambda height, width: None
    if options.crop == "center":
        return center_box

    def paper(height: int, width: int) -> Box:
        if (height, width) != shape:
            raise DataError(
                f"{height}x{width} image, but {what} images are {shape[0]}x{shape[1]} (crop "
                f"'auto' cuts {paper_box[2]}x{paper_box[3]} at row {paper_box[0]}, column "
                f"{paper_box[1]}); pass --crop center for other images"
            )
        return paper_box

    return paper
