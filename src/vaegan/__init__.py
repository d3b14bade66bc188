"""vaegan: VAE/GAN (Larsen et al., ICML 2016) — autoencoding beyond pixels with a learned metric."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vaegan.config import RunConfig
from vaegan.errors import VaeganError

if TYPE_CHECKING:
    import torch

    from vaegan.models import VAEGAN

__version__ = "0.2.0"


def load(run_dir: str | Path, device: str | torch.device = "auto") -> VAEGAN:
    """The trained model of a run directory (or checkpoint folder), in eval mode.

    device: "auto" (CUDA, then MPS, then the CPU, as the CLI), or any torch device name.
    It has `encode`, `decode`, `sample` and `reconstruct` (vaegan.models.VAEGAN).
    """
    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device

    return load_model(Path(run_dir), resolve_device(device))[0]


def __getattr__(name: str) -> object:
    """`vaegan.VAEGAN` on first use: importing the package (the CLI's --help) needs no torch."""
    if name == "VAEGAN":
        from vaegan.models import VAEGAN

        return VAEGAN
    raise AttributeError(f"module 'vaegan' has no attribute {name!r}")


__all__ = ["VAEGAN", "RunConfig", "VaeganError", "load"]
