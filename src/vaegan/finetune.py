"""Unsupervised pretraining for a supervised task (METHOD.md §5.4): a classifier on a run's Enc
(or Dis) trained on a few labelled images, against the same network trained from scratch.

The classifier is one linear layer on the network's hidden FC layer (after its BN and ReLU):
Enc's, before the mu/logvar head, or Dis's, before the real/fake logit. By default the whole
network is fine-tuned with the head; `freeze` trains the head alone (a linear probe).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaegan.checkpoint import checkpoint_step, find_checkpoint, load_model
from vaegan.data import Dataset, load_run_data
from vaegan.errors import DataError, VaeganError
from vaegan.files import locked_update_json
from vaegan.images import to_model
from vaegan.judge import targets_of
from vaegan.models import VAEGAN, Discriminator, evaluating
from vaegan.names import FEATURES, FINETUNE_BATCH, FINETUNE_SEEDS, FINETUNE_STEPS
from vaegan.progress import bar as progress_bar

Features = Literal["enc", "dis"]  # as vaegan.names.FEATURES


@dataclass(frozen=True)
class FinetuneConfig:
    """One setting of the comparison; each seed draws its own labelled subset and head."""

    labels: int  # labelled training images, the same number from every class
    features: Features = "enc"
    from_scratch: bool = False  # the same network freshly initialised instead of the run's
    freeze: bool = False  # train the head alone (linear probe) instead of fine-tuning all
    seeds: int = FINETUNE_SEEDS  # seeds 0 .. seeds-1
    steps: int = FINETUNE_STEPS
    batch_size: int = FINETUNE_BATCH
    lr: float | None = None  # None: 3e-4 to fine-tune, 3e-3 for a probe (see learning_rate)
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise VaeganError(f"unknown features '{self.features}' (enc or dis)")
        for name in ("labels", "seeds", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise VaeganError(f"finetune {name} must be >= 1, got {getattr(self, name)}")
        if self.lr is not None and not self.lr > 0:
            raise VaeganError(f"finetune lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise VaeganError(f"finetune weight_decay must be >= 0, got {self.weight_decay}")

    @property
    def learning_rate(self) -> float:
        """A probe's head alone takes a larger step than a whole network being fine-tuned: on
        the demo run, 3e-4 left the probe far behind after 300 steps (docs/FINETUNE.md)."""
        if self.lr is not None:
            return self.lr
        return 3e-3 if self.freeze else 3e-4

    @property
    def key(self) -> str:
        """Where this setting's result sits in the JSON record, e.g. `100/enc/pretrained/all`."""
        init = "scratch" if self.from_scratch else "pretrained"
        trained = "head" if self.freeze else "all"
        return f"{self.labels}/{self.features}/{init}/{trained}"


class DisHidden(nn.Module):
    """Dis up to its hidden FC layer (Discriminator.hidden) as a module: x (B, C, H, W) ->
    (B, dis_hidden), after BN and ReLU. Holds `dis` itself; its logit layer goes unused."""

    def __init__(self, dis: Discriminator) -> None:
        super().__init__()
        self.dis = dis

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> Dis's hidden FC activations (B, dis_hidden)."""
        return self.dis.hidden(x)


class Classifier(nn.Module):
    """x (B, C, H, W) in [-1, 1] -> class logits (B, classes): a network's hidden layer + linear."""

    def __init__(self, body: nn.Module, width: int, n_classes: int) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, classes): the linear head over the body's features (B, width)."""
        return self.head(self.body(x))


def hidden_network(model: VAEGAN, features: Features) -> tuple[nn.Module, int]:
    """The model's Enc (or Dis) up to its hidden FC layer, and that layer's width."""
    variant = model.cfg.variant
    if model.cfg.conditional:  # its Enc and Dis read the class they would have to predict
        raise VaeganError(
            f"a '{variant}' run is conditional: its networks take the label as an input; "
            f"finetune an unconditional run ({model.cfg.base_variant} instead of {variant})"
        )
    if features == "enc":
        if model.enc is None:
            raise VaeganError(f"a '{variant}' run has no encoder: pass --features dis")
        enc = model.inference_network("enc")  # the moving average where the run keeps one
        return enc.body, model.cfg.enc_hidden  # body ends in FC + BN + ReLU
    if model.dis is None:
        raise VaeganError(f"a '{variant}' run has no discriminator: pass --features enc")
    return DisHidden(model.dis), model.cfg.dis_hidden


def build_classifier(model: VAEGAN, cfg: FinetuneConfig, n_classes: int, seed: int) -> Classifier:
    """A classifier on a copy of `model`'s network (or a fresh one), with a head seeded by `seed`.

    `model` itself is never changed: the pretrained network (that one alone) is deep-copied.
    """
    body, width = hidden_network(model, cfg.features)  # a missing network fails before any work
    torch.manual_seed(seed)
    if cfg.from_scratch:
        fresh = VAEGAN(model.cfg).to(model.device)  # init_weights, as a run starts
        body, _ = hidden_network(fresh, cfg.features)
    else:
        body = copy.deepcopy(body)
    return Classifier(body, width, n_classes).to(model.device)


def class_count(data: Dataset) -> int:
    """The data set's class names, or else its largest label + 1; DataError if it has no labels."""
    labels = targets_of(data, "classes")  # DataError when the data set has no labels
    return len(data.class_names) or int(labels.max(initial=0)) + 1


def balanced_subset(labels: np.ndarray, n: int, n_classes: int, seed: int) -> np.ndarray:
    """Indices of n images, n / n_classes of each class, drawn without replacement, sorted."""
    if n < n_classes:
        raise DataError(
            f"--labels {n} is fewer than the {n_classes} classes: use at least one image per class"
        )
    if n % n_classes:
        raise DataError(
            f"--labels {n} does not split evenly over {n_classes} classes: use a "
            f"multiple of {n_classes}"
        )
    per_class = n // n_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DataError(
                f"class {c} has {len(members)} training images, fewer than the "
                f"{per_class} per class that --labels {n} needs"
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def train_classifier(
    classifier: Classifier,
    images: Tensor,
    labels: Tensor,
    cfg: FinetuneConfig,
    *,
    seed: int,
    progress: bool = True,
) -> None:
    """Cross-entropy on batches drawn with replacement from the labelled uint8 (N, H, W, C)
    images (as train_evaluator draws them).

    Fine-tuning: BN in train mode. Probe: the body stays in eval mode with its weights and BN
    statistics untouched, so the head sees the same features at training and at test time.
    """
    classifier.train()
    if cfg.freeze:
        classifier.body.eval().requires_grad_(False)
    params = [p for p in classifier.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    g = torch.Generator(device="cpu").manual_seed(seed)
    for _ in progress_bar(
        range(cfg.steps), enabled=progress, desc=f"finetune seed {seed}", unit="step"
    ):
        index = torch.randint(len(images), (cfg.batch_size,), generator=g).to(images.device)
        loss = F.cross_entropy(classifier(to_model(images[index])), labels[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.inference_mode()
def classification_error(classifier: Classifier, data: Dataset, batch_size: int = 500) -> float:
    """Fraction of `data`'s images whose predicted class is wrong, BN on running statistics."""
    device = next(classifier.parameters()).device
    labels = targets_of(data, "classes")
    wrong = 0
    with evaluating(classifier):
        for i in range(0, len(data), batch_size):
            x = to_model(torch.from_numpy(data.images[i : i + batch_size]).to(device))
            predicted = classifier(x).argmax(1).cpu().numpy()
            wrong += int(np.sum(predicted != labels[i : i + batch_size]))
    return wrong / len(data)


def finetune(
    model: VAEGAN,
    train_set: Dataset,
    test_set: Dataset,
    cfg: FinetuneConfig,
    *,
    progress: bool = True,
) -> dict:
    """Train and test one classifier per seed; the per-seed errors and their mean and std."""
    n_classes = class_count(train_set)
    targets_of(test_set, "classes")  # a test split without labels fails before training
    device = model.device
    errors = []
    start = time.perf_counter()
    for seed in range(cfg.seeds):
        chosen = balanced_subset(train_set.labels, cfg.labels, n_classes, seed)
        classifier = build_classifier(model, cfg, n_classes, seed)
        images = torch.from_numpy(train_set.images[chosen]).to(device)
        labels = torch.from_numpy(train_set.labels[chosen]).long().to(device)
        train_classifier(classifier, images, labels, cfg, seed=seed, progress=progress)
        errors.append(classification_error(classifier, test_set))
    return {
        "data": train_set.name,
        "config": asdict(cfg),
        "lr": cfg.learning_rate,
        "classes": n_classes,
        "test_images": len(test_set),
        "test_errors": errors,
        "test_error_mean": float(np.mean(errors)),
        # Sample std (ddof 1) over seeds; 0 for a single seed.
        "test_error_std": float(np.std(errors, ddof=1)) if len(errors) > 1 else 0.0,
        "seconds": round(time.perf_counter() - start, 1),
    }


def finetune_run(
    run: Path,
    cfg: FinetuneConfig,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    cache_dir: Path | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict:
    """`finetune` on run `run`'s model and the train/test splits of its data set (or `data`),
    preprocessed to the model's image size and channels; the result records the checkpoint."""
    model, run_cfg = load_model(run, device)
    hidden_network(model, cfg.features)  # before the data loads
    train_set, test_set = (
        load_run_data(
            run_cfg, split, data=data, data_dir=data_dir, cache_dir=cache_dir, progress=progress
        )
        for split in ("train", "test")
    )
    result = finetune(model, train_set, test_set, cfg, progress=progress)
    result["variant"] = run_cfg.model.variant
    result["checkpoint_step"] = checkpoint_step(find_checkpoint(run))
    return result


def record_result(out: Path, run: Path, result: dict) -> dict:
    """Add `result` to the JSON record `out` under its data set and setting; other settings
    already there stay, also those another process adds meanwhile (a lock). Returns the record."""
    out = Path(out)
    key = f"{result['data']}/{FinetuneConfig(**result['config']).key}"

    def add(record: dict | None) -> dict:
        record = record if record is not None else {"run": str(run), "results": {}}
        if not isinstance(record.get("results"), dict) or "run" not in record:
            raise VaeganError(f"{out}: not a finetune record (no 'run' and 'results')")
        # A record beside the run is the run's own; one elsewhere must not mix two runs' results.
        beside_run = out.resolve().parent == Path(run).resolve()
        if not beside_run and Path(record["run"]).resolve() != Path(run).resolve():
            raise VaeganError(f"{out} holds the results of run {record['run']}; pass another --out")
        record["results"][key] = result
        return record

    return locked_update_json(out, add)


def format_results(record: dict) -> str:
    """One row per setting: data, labels, features, init, what was trained, error mean ± std."""
    rows = [
        f"{'data':14s} {'labels':>6s} {'features':8s} {'init':10s} {'trains':6s} "
        f"{'test error':>17s} {'seeds':>5s}"
    ]
    for key in sorted(record["results"], key=_row_order):
        r = record["results"][key]
        c = r["config"]
        init = "scratch" if c["from_scratch"] else "pretrained"
        trains = "head" if c["freeze"] else "all"
        spread = f" ± {r['test_error_std']:.4f}" if c["seeds"] > 1 else ""  # none from one seed
        error = f"{r['test_error_mean']:.4f}{spread}"
        rows.append(
            f"{r['data']:14s} {c['labels']:6d} {c['features']:8s} {init:10s} {trains:6s} "
            f"{error:>17s} {c['seeds']:5d}"
        )
    return "\n".join(rows)


def _row_order(key: str) -> tuple:
    data, labels, *rest = key.split("/")
    return (data, int(labels), *rest)
