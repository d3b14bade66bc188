"""Attribute similarity of conditional generation (METHOD.md §5.3, Table 1).

One image is generated per test-set condition y; the independent evaluator predicts its
attributes a; per image, the cosine similarity of a and y and their squared error, summed over
the attributes (Table 1's MSE magnitudes, 14-28 over 73 LFW attributes, suggest a per-image sum);
both averaged over the images. Repeated over seeds: mean and std. The real test images, scored the
same way against their own y, give the upper bound: what the evaluator itself can recover.

For class conditions a is the evaluator's class probabilities and y one-hot; the share of images
whose most probable class is the requested one is reported too ("accuracy").
"""

from __future__ import annotations

import numpy as np
import torch

from vaegan.config import ModelConfig
from vaegan.errors import VaeganError
from vaegan.images import to_uint8
from vaegan.judge import JUDGE_TARGET, Evaluator
from vaegan.models import VAEGAN


def check_judge(evaluator: Evaluator, cfg: ModelConfig, where: str) -> None:
    """The evaluator predicts exactly the model's condition, in the same order."""
    judge = evaluator.cfg
    if judge.target != JUDGE_TARGET[cfg.condition_kind] or judge.names != cfg.condition:
        raise VaeganError(
            f"{where}: the evaluator predicts {len(judge.names)} {judge.target} "
            f"({', '.join(judge.names[:4])}, ...), the model is conditioned on "
            f"{cfg.condition_dim} {cfg.condition_kind} values ({', '.join(cfg.condition[:4])}, ...)"
        )


def agreement(predicted: np.ndarray, requested: np.ndarray) -> dict[str, float]:
    """Mean over images of cosine(predicted, requested) and of the summed squared error; for
    one-hot requests also the share whose largest prediction is the requested class."""
    a = torch.from_numpy(np.asarray(predicted, np.float64))
    y = torch.from_numpy(np.asarray(requested, np.float64))
    result = {
        "cosine": float(torch.nn.functional.cosine_similarity(a, y, dim=1, eps=1e-12).mean()),
        "mse": float((a - y).square().sum(dim=1).mean()),
    }
    one_hot = bool(((y == 0) | (y == 1)).all() and (y.sum(dim=1) == 1).all())
    if one_hot:
        result["accuracy"] = float((a.argmax(dim=1) == y.argmax(dim=1)).double().mean())
    return result


@torch.inference_mode()
def generate(model: VAEGAN, conditions: np.ndarray, seed: int, batch_size: int = 500) -> np.ndarray:
    """One sample per condition (N, K) as uint8 images, z drawn from `seed`."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    y = torch.from_numpy(np.asarray(conditions, np.float32))
    out = [to_uint8(model.sample(len(chunk), chunk, generator=g)) for chunk in y.split(batch_size)]
    return np.concatenate(out)


def over_seeds(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean and sample std (ddof 1, as finetune's; 0 for one seed) of each figure over the seeds."""
    out = {}
    for key in rows[0]:
        values = np.array([row[key] for row in rows])
        std = values.std(ddof=1) if len(values) > 1 else 0.0
        out[key], out[f"{key}_std"] = float(values.mean()), float(std)
    return out


def attribute_similarity(
    model: VAEGAN,
    evaluator: Evaluator,
    conditions: np.ndarray,
    real_images: np.ndarray,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> dict[str, dict[str, float]]:
    """{"generated": mean/std over seeds, "real": the real images' row} for the test conditions
    (N, K) of `real_images`."""
    check_judge(evaluator, model.cfg, "attribute similarity")
    rows = [agreement(evaluator.scores(generate(model, conditions, s)), conditions) for s in seeds]
    return {
        "generated": over_seeds(rows) | {"seeds": len(seeds), "n": len(conditions)},
        "real": agreement(evaluator.scores(real_images), conditions),
    }
