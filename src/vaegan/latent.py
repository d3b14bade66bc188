"""Paths in latent space: interpolations, the official code's random walk, attribute edits."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vaegan.errors import VaeganError
from vaegan.images import to_model, to_uint8
from vaegan.models import VAEGAN


def require_unconditional(model: VAEGAN, what: str) -> None:
    """Latent tools decode z alone; a conditional model's Dec also needs a condition y."""
    variant = model.cfg.variant
    if model.cfg.conditional:
        raise VaeganError(
            f"{what} works on unconditional models; a '{variant}' model needs a condition "
            f"for every image (train one with --model {variant[1:]})"
        )


def interpolate(z0: Tensor, z1: Tensor, steps: int, mode: str = "spherical") -> Tensor:
    """`steps` codes from z0 to z1, ends included: (steps, z).

    Spherical interpolation follows the great circle, keeping the norm typical of N(0, I) draws
    where a straight line would pass through the low-norm middle of the prior.
    """
    if steps < 2:
        raise VaeganError(f"an interpolation needs at least 2 steps, got {steps}")
    t = torch.linspace(0, 1, steps, device=z0.device, dtype=z0.dtype)[:, None]
    if mode == "linear":
        return (1 - t) * z0 + t * z1
    if mode != "spherical":
        raise VaeganError(f"unknown interpolation mode '{mode}' (linear or spherical)")
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=0).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:  # (nearly) parallel: slerp degenerates to lerp
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def random_walk(
    start: Tensor,
    frames: int,
    *,
    leg: int = 10,
    change_fraction: float = 0.1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The official code's latent walk (output.py): start (n, z) -> path (frames, n, z).

    Every `leg` frames each walker picks a waypoint: a fresh N(0, I) draw in a random
    `change_fraction` of its coordinates, its current values in the others; it then moves there
    in `leg` equal steps. Because waypoints come from the prior, the norm stays at the prior's
    sqrt(z) instead of growing like a Brownian walk's. Between waypoints the straight line dips:
    mid-leg E|z|^2 = z (1 - change_fraction / 2) for a start drawn from the prior (0.975 sqrt(z)
    in norm at the code's 0.1). The first frame is one step away from `start`, as in the code.
    """
    if frames < 1 or leg < 1:
        raise VaeganError(f"a walk needs frames >= 1 and leg >= 1, got {frames} and {leg}")
    if not 0.0 < change_fraction <= 1.0:
        raise VaeganError(f"change fraction must lie in (0, 1], got {change_fraction}")
    pos = start.detach().float().cpu().clone()
    path = []
    for frame in range(frames):
        if frame % leg == 0:
            target = torch.randn(pos.shape, generator=generator)
            keep = torch.rand(pos.shape, generator=generator) >= change_fraction
            target[keep] = pos[keep]
            step = (target - pos) / leg
        pos = pos + step
        path.append(pos)
    return torch.stack(path)


def there_and_back(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Frames forward, then back without repeating either end: a GIF that loops smoothly."""
    return frames + frames[-2:0:-1]


@torch.inference_mode()
def encode_images(model: VAEGAN, images: np.ndarray, batch_size: int = 500) -> Tensor:
    """z = mu(x) of uint8 (N, H, W, C) images, on the CPU: (N, z)."""
    codes = [
        model.encode(to_model(torch.from_numpy(images[i : i + batch_size]))).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(codes) if codes else torch.zeros(0, model.cfg.z_dim)


@torch.inference_mode()
def decode_codes(model: VAEGAN, z: Tensor, batch_size: int = 500) -> np.ndarray:
    """Dec(z) of codes (N, z) as uint8 images (N, H, W, C)."""
    if len(z) == 0:
        cfg = model.cfg
        return np.zeros((0, cfg.image_size, cfg.image_size, cfg.channels), np.uint8)
    return np.concatenate(
        [to_uint8(model.decode(z[i : i + batch_size])) for i in range(0, len(z), batch_size)]
    )


def edit_codes(z: Tensor, vectors: Tensor, strength: float) -> Tensor:
    """z (N, z) moved by `strength` times each vector (A, z): (N, A, z), z' = z + S v_a."""
    return z[:, None, :] + strength * vectors[None, :, :].to(z)


def edit_grid(model: VAEGAN, images: np.ndarray, vectors: Tensor, strength: float) -> np.ndarray:
    """The paper's attribute figure, uint8 (n, 2 + A, H, W, C): per image its input, its
    reconstruction Dec(mu), then Dec(mu + S v_a) for each vector v_a of vectors (A, z)."""
    require_unconditional(model, "attribute editing")
    z = encode_images(model, images)
    n, a = len(images), len(vectors)
    edited = decode_codes(model, edit_codes(z, vectors, strength).flatten(0, 1))
    columns = [
        images[:, None],
        decode_codes(model, z)[:, None],
        edited.reshape(n, a, *edited.shape[1:]),
    ]
    return np.concatenate(columns, axis=1)
