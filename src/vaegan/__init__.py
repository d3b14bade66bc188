"""vaegan: VAE/GAN (Larsen et al., ICML 2016) — autoencoding beyond pixels with a learned metric."""

from __future__ import annotations

from pathlib import Path

import torch

from vaegan.config import RunConfig
from vaegan.errors import VaeganError
from vaegan.models import VAEGAN

__version__ = "0.2.0"


def load(run_dir: str | Path, device: str | torch.device = "cpu") -> VAEGAN:
    """The trained model of a run directory (or checkpoint folder), in eval mode.

    It has `encode`, `decode`, `sample` and `reconstruct`, on images in [-1, 1], (B, C, H, W).
    """
    from vaegan.checkpoint import load_model

    return load_model(Path(run_dir), device)[0]


__all__ = ["VAEGAN", "RunConfig", "VaeganError", "load"]
