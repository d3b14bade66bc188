"""The condition y of conditional models (METHOD.md §5.3): one-hot classes or attribute values,
taken from a data set's annotations or from the user."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vaegan.config import ConditionKind, ModelConfig, RunConfig
from vaegan.data import Dataset
from vaegan.errors import ConfigError, DataError

FROM_TEST_SET = "test"  # `--condition test`: the first held-out images' (sample's --split)


def condition_of(data: Dataset) -> tuple[tuple[str, ...], ConditionKind]:
    """Names and kind of the condition a data set offers: its classes, else its attributes."""
    kind, names = data.annotation("a conditional model needs one of them")
    return names, kind


def with_condition(cfg: RunConfig, data: Dataset) -> RunConfig:
    """A conditional run's config with its training data's condition filled in (checked against
    the one it already names, as on resume). Unconditional runs are returned as they are."""
    if not cfg.model.conditional:
        return cfg
    names, kind = condition_of(data)
    model = cfg.model
    if model.condition and (model.condition, model.condition_kind) != (names, kind):
        raise ConfigError(
            f"the run is conditioned on {len(model.condition)} {model.condition_kind} values "
            f"({', '.join(model.condition[:4])}, ...) but {data.name} offers {len(names)} {kind} "
            f"values ({', '.join(names[:4])}, ...)"
        )
    return replace(cfg, model=replace(model, condition=names, condition_kind=kind))


def condition_values(data: Dataset, cfg: ModelConfig, n: int | None = None) -> np.ndarray | None:
    """float32 (n, K): the first n images' conditions (all when n is None), in the order the
    model takes them; None for an unconditional model."""
    if not cfg.conditional:
        return None
    names, kind = condition_of(data)
    if (names, kind) != (cfg.condition, cfg.condition_kind):
        raise DataError(
            f"{data.name}: its {kind} values ({', '.join(names[:4])}, ...) are not the model's "
            f"{cfg.condition_kind} condition ({', '.join(cfg.condition[:4])}, ...)"
        )
    if kind == "class":
        return np.eye(len(names), dtype=np.float32)[data.labels[:n]]
    return data.attributes[:n].astype(np.float32)


def parse_condition(text: str, cfg: ModelConfig) -> np.ndarray:
    """float32 (K,) from the command line: a class name ("Sneaker"), NAME=VALUE pairs for
    attributes (the others 0), or K comma-separated numbers."""
    names, k = cfg.condition, cfg.condition_dim
    if not cfg.conditional:
        raise ConfigError(f"a '{cfg.variant}' model takes no condition")
    if cfg.condition_kind == "class" and text in names:
        return np.eye(k, dtype=np.float32)[names.index(text)]
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if parts and all("=" in part for part in parts):
        values = np.zeros(k, dtype=np.float32)
        for part in parts:
            name, value = (s.strip() for s in part.split("=", 1))
            if name not in names:
                raise ConfigError(
                    f"unknown {cfg.condition_kind} '{name}' (known: {', '.join(names)})"
                )
            values[names.index(name)] = _number(value, text)
        return values
    try:
        values = np.array([float(part) for part in parts], dtype=np.float32)
    except ValueError:
        what = "a class name" if cfg.condition_kind == "class" else "NAME=VALUE pairs"
        raise ConfigError(
            f"condition '{text}': expected {what}, '{FROM_TEST_SET}', or {k} comma-separated "
            f"numbers (known names: {', '.join(names)})"
        ) from None
    if len(values) != k:
        raise ConfigError(
            f"condition '{text}' has {len(values)} values; this model takes {k} "
            f"({', '.join(names)})"
        )
    return values


def _number(value: str, text: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"condition '{text}': '{value}' is not a number") from None
