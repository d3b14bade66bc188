"""`vaegan evaluate`: metrics of a trained run against a data split, written to RUN/eval.json."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vaegan.attributes import DEFAULT_STRENGTH, AttributeVectors, Membership, index_of, membership
from vaegan.checkpoint import checkpoint_step, find_checkpoint, load_model
from vaegan.conditions import condition_values
from vaegan.config import RunConfig
from vaegan.data import Dataset, load_run_data
from vaegan.errors import DataError, VaeganError
from vaegan.files import check_writable, file_sha256
from vaegan.images import to_uint8
from vaegan.judge import JUDGE_TARGET, Evaluator, load_evaluator
from vaegan.latent import decode_codes, encode_images
from vaegan.metrics import reconstruction_metrics
from vaegan.metrics.inception import (
    WEIGHTS,
    WEIGHTS_SHA256,
    InceptionFeatures,
    batch_size_for,
)
from vaegan.metrics.quality import SampleQuality, domain_names, domain_quality
from vaegan.metrics.similarity import attribute_similarity
from vaegan.models import VAEGAN
from vaegan.names import METRICS
from vaegan.records import read_evaluations, save_evaluation

# Metric groups: domain FD (with its kernel distance "kd", and precision and recall of samples in
# the same features), Inception FID, Inception KID, recon, the share of samples per class,
# edit success of attribute vectors, attribute similarity of conditional models.


@torch.inference_mode()
def class_shares(model: VAEGAN, evaluator: Evaluator, n: int, seed: int) -> dict[str, float]:
    """The share of n samples z ~ N(0, I) that the evaluator puts in each class (the same
    draws as the domain FD's): a dropped or over-drawn class shows here, not in one distance."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    counts = np.zeros(len(evaluator.cfg.names), dtype=np.int64)
    for start in range(0, n, 500):
        images = to_uint8(model.sample(min(500, n - start), generator=g))
        counts += np.bincount(evaluator.predict(images), minlength=len(counts))
    return dict(zip(evaluator.cfg.names, (counts / n).tolist(), strict=True))


def load_judge(
    evaluator_dir: Path, data_name: str, images: np.ndarray, kind: str, device: torch.device
) -> Evaluator:
    """The evaluator, checked to judge these images for this kind of attribute."""
    evaluator, _ = load_evaluator(evaluator_dir, device)
    cfg = evaluator.cfg
    if cfg.data != data_name:
        raise VaeganError(
            f"{evaluator_dir}: the evaluator was trained on '{cfg.data}', not '{data_name}'"
        )
    if (cfg.image_size, cfg.channels) != (images.shape[1], images.shape[3]):
        raise VaeganError(
            f"{evaluator_dir}: the evaluator judges {cfg.image_size}x{cfg.image_size}x"
            f"{cfg.channels} images, these are {images.shape[1]}x{images.shape[2]}x"
            f"{images.shape[3]} (the model's size)"
        )
    if cfg.target != JUDGE_TARGET[kind]:
        raise VaeganError(
            f"{evaluator_dir}: the evaluator predicts {cfg.target}, but {kind} "
            "attributes are to be judged"
        )
    return evaluator


def assigned(
    predicted: np.ndarray, column: int, target: str, threshold: float | None
) -> np.ndarray:
    """Which images the evaluator gives attribute `column`, from its predictions (Evaluator.predict:
    class ids (N,), 0/1 (N, A) for probability > 0.5, or real scores (N, A))."""
    if target == "classes":
        return predicted == column
    if target == "binary":
        return predicted[:, column] > 0.5
    return predicted[:, column] > threshold


@torch.inference_mode()
def edit_success(
    model: VAEGAN,
    evaluator: Evaluator,
    images: np.ndarray,
    truth: Membership,
    names: tuple[str, ...],
    vectors: torch.Tensor,
    strength: float,
) -> dict[str, dict]:
    """Per attribute a (vectors (A, z)), over the images that do not have a (by `truth`): the
    fraction the evaluator assigns to a after the edit Dec(mu + S v_a) ("edited"), and after
    plain reconstruction Dec(mu) ("reconstructed", the baseline). For reference, the same
    fraction for reconstructions of the images that have a ("reconstructed_with"; None if none):
    how well the model renders a at all."""
    target, threshold = evaluator.cfg.target, truth.threshold
    z = encode_images(model, images)
    reconstructed = evaluator.predict(decode_codes(model, z))
    results = {}
    for name, v in zip(names, vectors, strict=True):
        without = ~truth.has[:, index_of(name, truth.names, "the evaluated data")]
        if not without.any():
            raise DataError(f"'{name}': every evaluated image has it; nothing to edit towards it")
        column = index_of(name, evaluator.cfg.names, "the evaluator")
        edited = evaluator.predict(decode_codes(model, z[without] + strength * v))
        with_a = assigned(reconstructed[~without], column, target, threshold)
        results[name] = {
            "n": int(without.sum()),
            "edited": float(assigned(edited, column, target, threshold).mean()),
            "reconstructed": float(
                assigned(reconstructed[without], column, target, threshold).mean()
            ),
            "reconstructed_with": float(with_a.mean()) if with_a.size else None,
        }
    return results


def edit_metric(
    model: VAEGAN,
    run: Path,
    data_name: str,
    truth: Membership,
    images: np.ndarray,
    *,
    evaluator_dir: Path,
    vectors_file: Path,
    attrs: tuple[str, ...] | None,
    strength: float,
) -> tuple[dict[str, float], dict]:
    """Mean edit success and baseline over the attributes, and the record of each."""
    vectors = AttributeVectors.load(vectors_file)
    vectors.check_model(run, model)
    if vectors.kind != truth.kind:
        raise DataError(
            f"{vectors_file}: vectors of {vectors.kind} attributes, but "
            f"'{data_name}' is annotated with {truth.kind} ones"
        )
    names, v = vectors.select(attrs)
    evaluator = load_judge(evaluator_dir, data_name, images, vectors.kind, model.device)
    per_attribute = edit_success(model, evaluator, images, truth, names, v, strength)
    summary = {
        "edit": float(np.mean([r["edited"] for r in per_attribute.values()])),
        "edit_base": float(np.mean([r["reconstructed"] for r in per_attribute.values()])),
    }
    record = {
        "vectors": str(vectors_file),
        "vectors_sha256": file_sha256(vectors_file),  # what the record's setting counts by
        "strength": strength,
        "evaluator": str(evaluator_dir),
        "attributes": per_attribute,
    }
    return summary, record


def evaluate_run(
    run: Path,
    *,
    evaluator_dir: Path,
    metrics: tuple[str, ...] = ("fd", "recon"),
    data: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    skip_bad_images: bool = False,
    n: int = 10_000,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    cache_dir: Path | None = None,
    vectors: Path | None = None,
    attrs: tuple[str, ...] | None = None,
    strength: float = DEFAULT_STRENGTH,
) -> dict:
    """Evaluate the run's model on the first n images of `split`; merges the record into
    RUN/eval.json and returns the record of this setting (with its earlier metrics).

    `edit` needs `vectors` (from `vaegan attributes compute`); `attrs` picks some of them.
    """
    check_metrics(metrics, vectors)
    model, cfg = load_model(run, device)
    check_writable(Path(run))  # where eval.json goes: fail before the work, not after
    read_evaluations(run)  # likewise for an eval.json that cannot be merged into
    check_model_fits(metrics, run, model, cfg)
    dataset = load_run_data(
        cfg,
        split,
        data=data,
        data_dir=data_dir,
        cache_dir=cache_dir,
        progress=progress,
        skip_bad_images=skip_bad_images,
    )
    if n > len(dataset):
        raise VaeganError(f"--n {n} exceeds the {len(dataset)} images of split '{split}'")
    subject = Subject(run, model, cfg, dataset, n, seed, Path(evaluator_dir))
    record: dict = {"data": dataset.name, "split": split, "n": n, "seed": seed}
    # Features of cached data are keyed by the data set's fingerprint, not by hashing pixels.
    images_id = f"{dataset.fingerprint}[:{n}]" if dataset.fingerprint else None
    options = {
        "seed": seed,
        "device": model.device,
        "progress": progress,
        "cache_dir": cache_dir,
        "images_id": images_id,
        "conditions": subject.conditions,
    }
    results = distribution_metrics(subject, metrics, options, record)
    if "recon" in metrics:
        results |= reconstruction_metrics(model, subject.images, conditions=subject.conditions)
    results |= judged_metrics(subject, metrics, record, vectors, attrs, strength)

    record["step"] = checkpoint_step(find_checkpoint(run))
    record["metrics"] = results
    return save_evaluation(run, record)


@dataclass
class Subject:
    """What one evaluation scores: a run's model against the first n images of a split."""

    run: Path
    model: VAEGAN
    cfg: RunConfig
    dataset: Dataset
    n: int
    seed: int
    evaluator_dir: Path

    @property
    def images(self) -> np.ndarray:
        """The first n images of the split: uint8 (n, H, W, C)."""
        return self.dataset.images[: self.n]

    @property
    def conditions(self) -> np.ndarray | None:
        """Conditional models generate and reconstruct each image under its own condition."""
        return condition_values(self.dataset, self.cfg.model, self.n)

    def judge(self, kind: str) -> Evaluator:
        """The evaluator for `kind` (class, binary or real) on the model's device; VaeganError if it
        was trained on another data set, image shape or target."""
        return load_judge(
            self.evaluator_dir, self.dataset.name, self.images, kind, self.model.device
        )


def distribution_metrics(
    s: Subject, metrics: tuple[str, ...], options: dict, record: dict
) -> dict[str, float]:
    """Domain FD/KD, precision and recall; Inception FID/KID: whichever `metrics` asks for."""
    results = {}
    if "fd" in metrics:
        quality = domain_quality(s.evaluator_dir, s.dataset.name, s.images, **options)
        results |= domain_names(quality(s.model))
        record["domain_features"] = quality.extractor.record
    if "fid" in metrics or "kid" in metrics:
        results |= inception_metrics(s.model, s.images, metrics, options)
        record["inception_features"] = {"file": WEIGHTS, "sha256": WEIGHTS_SHA256}
    return results


def judged_metrics(
    s: Subject,
    metrics: tuple[str, ...],
    record: dict,
    vectors: Path | None,
    attrs: tuple[str, ...] | None,
    strength: float,
) -> dict[str, float]:
    """What the judge says: class shares of samples, edit success, attribute similarity."""
    results = {}
    if "classes" in metrics:
        record["classes"] = class_shares(s.model, s.judge("class"), s.n, s.seed)
        shares = record["classes"].values()
        results |= {"class_min": min(shares), "class_max": max(shares)}
    if "edit" in metrics:
        annotations = membership(s.dataset)
        truth = replace(annotations, has=annotations.has[: s.n])
        summary, record["edit"] = edit_metric(
            s.model,
            s.run,
            s.dataset.name,
            truth,
            s.images,
            evaluator_dir=s.evaluator_dir,
            vectors_file=vectors,
            attrs=attrs,
            strength=strength,
        )
        results |= summary
    if "similarity" in metrics:
        seeds = (s.seed, s.seed + 1, s.seed + 2)
        record["similarity"] = attribute_similarity(
            s.model, s.judge(s.cfg.model.condition_kind), s.conditions, s.images, seeds
        )
        generated = record["similarity"]["generated"]
        results |= {f"similarity_{k}": v for k, v in generated.items() if k not in ("n", "seeds")}
    return results


def check_metrics(metrics: tuple[str, ...], vectors: Path | None) -> None:
    """VaeganError, before any work, for a metric not in METRICS or `edit` without vectors."""
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise VaeganError(f"unknown metric '{unknown[0]}' (known: {', '.join(METRICS)})")
    if "edit" in metrics and vectors is None:
        raise VaeganError("the edit metric needs --vectors FILE (from `vaegan attributes compute`)")


def check_model_fits(metrics: tuple[str, ...], run: Path, model: VAEGAN, cfg: RunConfig) -> None:
    """An error before any work for a metric this kind of model cannot have."""
    if "similarity" in metrics and not cfg.model.conditional:
        raise VaeganError(
            f"{run}: attribute similarity scores conditional models (cvaegan, cvae, cgan), "
            f"not '{cfg.model.variant}'"
        )
    if ("recon" in metrics or "edit" in metrics) and model.enc is None:
        raise VaeganError(f"{run}: a '{cfg.model.variant}' model has no encoder to reconstruct")
    if "classes" in metrics and cfg.model.conditional:
        raise VaeganError(
            f"{run}: class shares are for unconditional models; a conditional one draws "
            "the classes it is asked for (--metrics similarity)"
        )


def inception_metrics(
    model: VAEGAN, images: np.ndarray, metrics: tuple[str, ...], options: dict
) -> dict[str, float]:
    """Inception FID and/or KID of the model's samples against `images`."""
    quality = SampleQuality(
        InceptionFeatures(), images, batch_size=batch_size_for(model.device), **options
    )
    d = quality(model)
    results = {"fid": d["fd"]} if "fid" in metrics else {}
    if "kid" in metrics:  # kid_std only where there was more than one subset
        results |= {k: v for k, v in d.items() if k in ("kid", "kid_std")}
    return results


def format_table(record: dict) -> str:
    """An eval.json record as plain text: a row per metric, its setting, then the edit's and
    similarity's rows where the record has them."""
    rows = [f"{'metric':10s} {'value':>12s}"]
    rows += [f"{k:10s} {v:12.5g}" for k, v in record["metrics"].items()]
    rows.append(
        f"({record['n']} images of {record['data']}/{record['split']}, step {record['step']})"
    )
    if "edit" in record:
        rows += edit_rows(record["edit"])
    if "similarity" in record:
        rows += similarity_rows(record["similarity"])
    return "\n".join(rows)


def similarity_rows(similarity: dict) -> list[str]:
    """Table 1's layout: generated images (mean ± std over seeds), then the real images' bound."""
    generated, real = similarity["generated"], similarity["real"]
    keys = [k for k in ("cosine", "mse", "accuracy") if k in real]
    rows = ["attribute similarity:", f"{'images':24s}" + "".join(f"{k:>18s}" for k in keys)]
    label = f"generated ({generated['seeds']} seeds)"
    rows.append(
        f"{label:24s}"
        + "".join(f"{generated[k]:>10.4f} ± {generated[k + '_std']:<5.3f}" for k in keys)
    )
    rows.append(f"{'real test images':24s}" + "".join(f"{real[k]:>18.4f}" for k in keys))
    return rows


def edit_rows(edit: dict) -> list[str]:
    """Per attribute: images without it, the share the evaluator gives it after the edit and
    after plain reconstruction, and (for reference) of the reconstructions of images with it."""
    width = max(12, *(len(name) for name in edit["attributes"]))
    header = f"{'attribute':{width}s} {'images':>7s} {'edited':>8s} {'recon':>8s} {'with a':>8s}"
    rows = [f"edit success at strength {edit['strength']:g} ({edit['vectors']}):", header]
    for name, r in edit["attributes"].items():
        with_a = "-" if r["reconstructed_with"] is None else f"{r['reconstructed_with']:.3f}"
        rows.append(
            f"{name:{width}s} {r['n']:7d} {r['edited']:8.3f} {r['reconstructed']:8.3f} {with_a:>8s}"
        )
    return rows
