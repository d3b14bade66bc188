"""`vaegan evaluate`: metrics of a trained run against a data split, written to RUN/eval.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaegan.checkpoint import (
    atomic_write_text,
    checkpoint_step,
    file_sha256,
    find_checkpoint,
    load_model,
)
from vaegan.data import load_run_data
from vaegan.errors import VaeganError
from vaegan.evaluator import load_evaluator
from vaegan.images import to_model
from vaegan.metrics import distribution_distances, extract_features, reconstruction_metrics
from vaegan.metrics.cache import cached_features
from vaegan.metrics.inception import (
    WEIGHTS,
    WEIGHTS_SHA256,
    InceptionFeatures,
    batch_size_for,
)
from vaegan.models import VAEGAN

# Metric groups: domain FD (and its kernel distance "kd"), Inception FID, Inception KID, recon.
METRICS = ("fd", "fid", "kid", "recon")


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
    ) -> None:
        self.extractor = extractor.to(device).eval()
        self.n, self.seed, self.batch_size, self.progress = len(images), seed, batch_size, progress

        def real_features() -> torch.Tensor:
            batches = (
                to_model(torch.from_numpy(images[i : i + batch_size])).to(device)
                for i in range(0, self.n, batch_size)
            )
            return extract_features(self.extractor, batches, self.n, "data", progress)

        self.real = cached_features(cache_dir, extractor.identity, images, real_features, images_id)

    def __call__(self, model: VAEGAN) -> dict[str, float]:
        """{"fd", "kid", "kid_std"} between the features of n samples and of the real images."""
        self.extractor.to(model.device)
        g = torch.Generator(device=model.device).manual_seed(self.seed)
        batches = (
            model.sample(min(self.batch_size, self.n - i), generator=g)
            for i in range(0, self.n, self.batch_size)
        )
        fake = extract_features(self.extractor, batches, self.n, "samples", self.progress)
        return distribution_distances(self.real, fake, seed=self.seed)


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
        return self.evaluator.features(x)


def domain_quality(
    evaluator_dir: Path, data_name: str, images: np.ndarray, **kwargs
) -> SampleQuality:
    return SampleQuality(EvaluatorFeatures(evaluator_dir, data_name), images, **kwargs)


def domain_names(distances: dict[str, float]) -> dict[str, float]:
    """Distances in the domain evaluator's features: "fd", and "kd" for the kernel distance."""
    return {"fd": distances["fd"], "kd": distances["kid"], "kd_std": distances["kid_std"]}


def evaluate_run(
    run: Path,
    *,
    evaluator_dir: Path,
    metrics: tuple[str, ...] = ("fd", "recon"),
    data: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    n: int = 10_000,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    cache_dir: Path | None = None,
) -> dict:
    """Evaluate the run's model on the first n images of `split`; returns and saves the record."""
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise VaeganError(f"unknown metric '{unknown[0]}' (known: {', '.join(METRICS)})")
    model, cfg = load_model(run, device)
    if "recon" in metrics and model.enc is None:
        raise VaeganError(f"{run}: a '{cfg.model.variant}' model has no encoder to reconstruct")
    dataset = load_run_data(
        cfg, split, data=data, data_dir=data_dir, cache_dir=cache_dir, progress=progress
    )
    if n > len(dataset):
        raise VaeganError(f"--n {n} exceeds the {len(dataset)} images of split '{split}'")
    images = dataset.images[:n]
    results: dict[str, float] = {}
    record: dict = {"data": dataset.name, "split": split, "n": n, "seed": seed}

    # Features of cached data are keyed by the data set's fingerprint, not by hashing pixels.
    images_id = f"{dataset.fingerprint}[:{n}]" if dataset.fingerprint else None
    options = {"seed": seed, "device": model.device, "progress": progress,
               "cache_dir": cache_dir, "images_id": images_id}  # fmt: skip
    if "fd" in metrics:
        quality = domain_quality(evaluator_dir, dataset.name, images, **options)
        results |= domain_names(quality(model))
        record["domain_features"] = quality.extractor.record
    if "fid" in metrics or "kid" in metrics:
        inception = InceptionFeatures()
        batch_size = batch_size_for(model.device)
        quality = SampleQuality(inception, images, batch_size=batch_size, **options)
        d = quality(model)
        results |= {"fid": d["fd"]} if "fid" in metrics else {}
        results |= {"kid": d["kid"], "kid_std": d["kid_std"]} if "kid" in metrics else {}
        record["inception_features"] = {"file": WEIGHTS, "sha256": WEIGHTS_SHA256}
    if "recon" in metrics:
        results |= reconstruction_metrics(model, images)

    record["step"] = checkpoint_step(find_checkpoint(run))
    record["metrics"] = results
    out = Path(run) / "eval.json"
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    return record


def format_table(record: dict) -> str:
    rows = [f"{'metric':10s} {'value':>12s}"]
    rows += [f"{k:10s} {v:12.5g}" for k, v in record["metrics"].items()]
    rows.append(
        f"({record['n']} images of {record['data']}/{record['split']}, step {record['step']})"
    )
    return "\n".join(rows)
