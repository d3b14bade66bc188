"""A run config as `vaegan train` resolves it, for the CLI and for Python (`vaegan.make_config`):
the paper's defaults at the data set's image shape, then a preset, a JSON file, dotted overrides."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vaegan.config import (
    DataConfig,
    ModelConfig,
    RunConfig,
    deep_merge,
    dotted_override,
    read_config_file,
)
from vaegan.data import DATASETS
from vaegan.presets import preset as named_preset


def make_config(
    preset: str | None = None,
    *,
    data: str | None = None,
    config: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    source: str | None = None,
) -> RunConfig:
    """A run config as `vaegan train` resolves it: the paper's defaults at the data set's image
    shape, then a named preset, a JSON config file (whole or partial) and dotted overrides
    ({"loss.gamma": 1e-6} or ["loss.gamma=1e-6"]), each over the ones before; `data` (a data set
    name) over them all, as the CLI's --data. `source` names them in error messages."""
    layers = [named_preset(preset)] if preset else []
    layers += [read_config_file(Path(config))] if config else []
    if isinstance(overrides, Mapping):
        overrides = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    layers += [dotted_override(item) for item in overrides]
    names = [layer.get("data", {}).get("name") for layer in layers]
    data = data or next((n for n in reversed(names) if isinstance(n, str)), None)
    raw = default_config(data if data in DATASETS else None).to_dict()
    for layer in [*layers, {"data": {"name": data}} if data else {}]:  # `data` over the rest
        raw = deep_merge(raw, layer)
    given = [
        f"preset {preset}" if preset else "",
        str(config or ""),
        "overrides" if overrides else "",
    ]
    return RunConfig.from_dict(raw, source=source or " + ".join(filter(None, given)) or "defaults")


def default_config(data: str | None) -> RunConfig:
    """The paper's defaults with the image shape of data set `data` (Fashion-MNIST: 32x32x1)."""
    name = data or DataConfig().name
    spec = DATASETS[name]
    model = ModelConfig(image_size=spec.image_size, channels=spec.channels)
    return RunConfig(model=model, data=DataConfig(name=name))
