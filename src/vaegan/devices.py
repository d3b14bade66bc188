"""Which torch device a name means: "auto" picks CUDA, then MPS, then the CPU."""

from __future__ import annotations

import torch

from vaegan.errors import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """The device `name` means, checked to exist here; a ConfigError names it if not."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}' (auto, cpu, cuda, cuda:N or mps)") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise ConfigError(f"device '{name}' requested but it is not available here")
    return device
