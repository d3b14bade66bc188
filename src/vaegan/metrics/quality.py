"""How close a model's samples come to real images: Frechet and kernel distances, precision and
recall, in the judge's features ("domain") or Inception's, with the real side computed once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaegan.errors import VaeganError
from vaegan.files import file_sha256
from vaegan.images import to_model
from vaegan.judge import load_evaluator
from vaegan.metrics.cache import cached_features
from vaegan.metrics.coverage import precision_recall
from vaegan.metrics.distribution import distribution_distances, extract_features
from vaegan.models import VAEGAN


class SampleQuality:
    """Frechet and kernel distances of a model's samples to fixed real images, in some features.

    The real images' features are computed once, so that the same object can score a model
    every few thousand training steps (`--eval-every`) as cheaply as possible.
    """

    def __init__(
        self,
        extractor: nn.Module,
        images: np.ndarray,
        *,
        seed: int = 0,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
        progress: bool = False,
        cache_dir: Path | None = None,
        images_id: str | None = None,
        conditions: np.ndarray | None = None,
        coverage: bool = False,
    ) -> None:
        """conditions (N, K): conditional models sample image i under the i-th real image's;
        coverage: precision and recall of the samples too."""
        self.extractor = extractor.to(device).eval()
        self.coverage = coverage
        self.conditions = None if conditions is None else torch.from_numpy(conditions)
        self.n, self.seed, self.batch_size, self.progress = len(images), seed, batch_size, progress

        def real_features() -> torch.Tensor:
            batches = (
                to_model(torch.from_numpy(images[i : i + batch_size])).to(device)
                for i in range(0, self.n, batch_size)
            )
            return extract_features(self.extractor, batches, self.n, "data", progress)

        self.real = cached_features(cache_dir, extractor.identity, images, real_features, images_id)

    def __call__(self, model: VAEGAN) -> dict[str, float]:
        """{"fd", "kid", "kid_std"} between the features of n samples and of the real images
        ("kid_std" only where KID had more than one subset: n above its subset size)."""
        self.extractor.to(model.device)
        g = torch.Generator(device=model.device).manual_seed(self.seed)
        batches = (
            model.sample(min(self.batch_size, self.n - i), self.condition(i), generator=g)
            for i in range(0, self.n, self.batch_size)
        )
        fake = extract_features(self.extractor, batches, self.n, "samples", self.progress)
        distances = distribution_distances(self.real, fake, seed=self.seed)
        return distances | (precision_recall(self.real, fake) if self.coverage else {})

    def condition(self, start: int) -> torch.Tensor | None:
        """The conditions y of samples start .. start + batch_size (the real images' own); None for
        unconditional models."""
        if self.conditions is None:
            return None
        return self.conditions[start : start + self.batch_size]


class EvaluatorFeatures(nn.Module):
    """The domain evaluator's penultimate layer as a feature extractor."""

    def __init__(self, evaluator_dir: Path, data_name: str) -> None:
        super().__init__()
        self.evaluator, info = load_evaluator(evaluator_dir)
        trained_on = info["config"]["data"]
        if trained_on != data_name:
            raise VaeganError(
                f"{evaluator_dir}: the evaluator was trained on '{trained_on}', not '{data_name}'"
            )
        self.record = {
            "path": str(evaluator_dir),
            "sha256": file_sha256(Path(evaluator_dir) / "evaluator.safetensors"),
            "test_metric": info["test_metric"],
            "test_score": info["test_score"],
        }
        self.identity = f"evaluator:{self.record['sha256']}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The judge's features (B, 4 * width) of images (B, C, H, W) in [-1, 1]."""
        return self.evaluator.features(x)


def domain_quality(
    evaluator_dir: Path, data_name: str, images: np.ndarray, **kwargs
) -> SampleQuality:
    """SampleQuality in the judge's features (domain FD and KID) with precision and recall;
    VaeganError if the judge was trained on another data set."""
    features = EvaluatorFeatures(evaluator_dir, data_name)
    return SampleQuality(features, images, coverage=True, **kwargs)


def domain_names(distances: dict[str, float]) -> dict[str, float]:
    """Distances in the domain evaluator's features: "fd", "kd" for the kernel distance, and
    the samples' precision and recall."""
    names = {
        "fd": "fd",
        "kid": "kd",
        "kid_std": "kd_std",
        "precision": "precision",
        "recall": "recall",
    }
    return {names[k]: v for k, v in distances.items() if k in names}
