"""Paths in latent space."""

from __future__ import annotations

import torch
from torch import Tensor

from vaegan.errors import VaeganError


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
