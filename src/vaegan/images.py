"""Images between uint8 (N, H, W, C) arrays, model tensors in [-1, 1], grids and files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vaegan.errors import VaeganError


def to_model(images: Tensor) -> Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1], as the code's x / 127.5 - 1."""
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def as_model_images(
    x: Tensor | np.ndarray, channels: int, image_size: int, dtype: torch.dtype
) -> Tensor:
    """Images as a user may hold them -> float (B, C, H, W) in [-1, 1] of `dtype`.

    uint8 (0..255) or float ([-1, 1]) values, laid out (B, C, H, W) or (B, H, W, C); a single
    image without the batch axis is one image. Other shapes are refused, naming the expected one.
    """
    x = torch.as_tensor(x)
    if x.ndim == 3 and channels == 1 and tuple(x.shape[1:]) == (image_size, image_size):
        x = x[:, None]  # a batch of grey images (B, H, W); (1, H, W) reads the same either way
    elif x.ndim == 3:
        x = x[None]  # one image
    expected = (channels, image_size, image_size)
    if x.ndim == 4 and tuple(x.shape[1:]) == expected:
        pass
    elif x.ndim == 4 and tuple(x.shape[1:]) == (image_size, image_size, channels):
        x = x.permute(0, 3, 1, 2)
    else:
        raise VaeganError(
            f"images of shape {tuple(x.shape)}; this model takes (B, {channels}, {image_size}, "
            f"{image_size}) or (B, {image_size}, {image_size}, {channels})"
        )
    if x.dtype == torch.uint8:  # as the code's x / 127.5 - 1, in fp32, then one rounding
        return x.float().div(127.5).sub(1.0).to(dtype)
    if not x.is_floating_point():
        raise VaeganError(f"images of dtype {x.dtype}; give uint8 (0..255) or floats in [-1, 1]")
    low, high = (float(v) for v in x.detach().aminmax()) if x.numel() else (0.0, 0.0)
    if not -1.01 <= low <= high <= 1.01:
        raise VaeganError(
            f"float images range over [{low:.3g}, {high:.3g}]; this model takes [-1, 1] "
            "(x / 127.5 - 1 of 0..255 values, or 2 x - 1 of 0..1 ones), or uint8"
        )
    return x.to(dtype)


def to_uint8(x: Tensor) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounded."""
    x = ((x.detach().float().cpu() + 1.0) * 127.5).round_().clamp_(0, 255)
    return x.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def make_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 (N, H, W, C) images into one (rows*H', ncol*W', C) image with a grey border."""
    n, h, w, c = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 128, dtype=np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = image
    return grid


def save_images(images: np.ndarray, path: Path, ncol: int | None = None) -> Path:
    """`.png` (or .jpg) writes a grid; `.npy` writes the uint8 (N, H, W, C) array itself."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, images)
    elif path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        grid = make_grid(images, ncol)
        Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(path)
    else:
        raise VaeganError(f"{path}: unsupported output type '{path.suffix}' (use .png or .npy)")
    return path


def interleave_rows(originals: np.ndarray, others: np.ndarray, ncol: int) -> np.ndarray:
    """Rows of `ncol` originals, each followed by the row of their counterparts."""
    rows = []
    for start in range(0, len(originals), ncol):
        rows += [originals[start : start + ncol], others[start : start + ncol]]
    return np.concatenate(rows)


def save_gif(frames: list[np.ndarray], path: Path, duration_ms: int = 100) -> Path:
    """An animated GIF that loops forever, of uint8 (H, W, C) frames (C = 1 or 3).

    GIF holds 256 colours a frame: grey frames are exact, colour frames are quantized by Pillow.
    Pillow merges a frame identical to the previous one into it (their durations add up).
    """
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise VaeganError(f"{path}: an animation is written as .gif, not '{path.suffix}'")
    if not frames:
        raise VaeganError(f"{path}: no frames to write")
    pictures = [Image.fromarray(f[..., 0] if f.shape[2] == 1 else f) for f in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    return path
