"""vaegan: VAE/GAN (Larsen et al., ICML 2016) — autoencoding beyond pixels with a learned metric."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vaegan.callbacks import Callback
from vaegan.config import RunConfig
from vaegan.errors import VaeganError

if TYPE_CHECKING:
    import torch

    from vaegan.models import VAEGAN

__version__ = "0.3.0"


def load(run_dir: str | Path, device: str | torch.device = "auto") -> VAEGAN:
    """The trained model of a run directory (or checkpoint folder, or exported model), in eval
    mode; a string "OWNER/NAME[@REVISION]" that is no folder here loads from the Hugging Face
    Hub (`pip install "vaegan[hub]"`, docs/EXPORT.md).

    device: "auto" (CUDA, then MPS, then the CPU, as the CLI), or any torch device name.
    It has `encode`, `decode`, `sample` and `reconstruct` (vaegan.models.VAEGAN).
    """
    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device

    local = Path(run_dir)
    # "OWNER/NAME" that is no path here (and whose OWNER is no folder here: "runs/typo" is a path)
    if isinstance(run_dir, str) and not local.exists() and not local.parent.is_dir():
        from vaegan.hub import download, parse_repo_id

        if parse_repo_id(run_dir) is not None:
            run_dir = download(run_dir)
    return load_model(Path(run_dir), resolve_device(device))[0]


def train(
    config: RunConfig,
    run_dir: str | Path,
    *,
    callbacks: Sequence[Callback] = (),
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> Path:
    """Train `config` (see `make_config`) into `run_dir`, as `vaegan train`; returns the checkpoint
    folder. Each vaegan.Callback hears of every logging and sample interval (docs/API.md)."""
    from vaegan.training import train as train_run

    cache = None if cache_dir is None else Path(cache_dir)
    return train_run(
        config,
        Path(run_dir),
        resume=resume,
        progress=progress,
        cache_dir=cache,
        callbacks=callbacks,
    )


def __getattr__(name: str) -> object:
    """`vaegan.VAEGAN` and `vaegan.make_config` on first use: importing the package (the CLI's
    --help) needs no torch."""
    if name == "VAEGAN":
        from vaegan.models import VAEGAN

        return VAEGAN
    if name == "make_config":
        from vaegan.configure import make_config

        return make_config
    raise AttributeError(f"module 'vaegan' has no attribute {name!r}")


__all__ = ["VAEGAN", "Callback", "RunConfig", "VaeganError", "load", "make_config", "train"]
