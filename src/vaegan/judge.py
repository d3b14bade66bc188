"""An independent judge: a small CNN trained on a data set's labels or attributes.

It shares no weights and no code path with the generative models it judges (it imports neither
models.py nor step.py). Its penultimate layer gives the features of the domain Frechet distance
("FD"); its predictions judge samples and edits: class ids (cross-entropy), binary attributes (BCE,
CelebA) or real-valued attributes (regression, LFW: METHOD.md §5.3's attribute regressor).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaegan.data import Dataset
from vaegan.errors import CheckpointError, DataError
from vaegan.files import atomic_save_tensors, atomic_write_text, load_weights
from vaegan.images import to_model
from vaegan.progress import bar as progress_bar

Target = Literal["classes", "binary", "real"]
# Where `vaegan train-evaluator` saves a data set's judge, and where every user of one looks.
EVALUATORS_DIR = Path("evaluators")
# What the test score of each target is.
SCORE = {"classes": "accuracy", "binary": "mean attribute accuracy", "real": "mse"}
# The target that judges each kind of attribute or condition (vaegan.config.ConditionKind).
JUDGE_TARGET = {"class": "classes", "binary": "binary", "real": "real"}


def default_evaluator(data_name: str) -> Path:
    """evaluators/DATA_NAME under the working directory: where train-evaluator saves a judge, and
    where evaluation looks for one."""
    return EVALUATORS_DIR / data_name


@dataclass(frozen=True)
class EvaluatorConfig:
    """A judge's data set, image shape, target, names and training settings; in evaluator.json."""

    data: str
    image_size: int
    channels: int
    target: Target
    names: tuple[str, ...]  # class names, or attribute names
    width: int = 16  # channels of the first block; doubled per block
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


class Evaluator(nn.Module):
    """Three blocks of two 3x3 convs + BN + ReLU and a 2x2 max-pool, global mean, linear head.

    x (B, C, H, W) in [-1, 1] -> features (B, 4 * width) and outputs (B, len(names)).
    """

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = cfg.channels
        for c in (cfg.width, 2 * cfg.width, 4 * cfg.width):
            for _ in range(2):
                layers += [
                    nn.Conv2d(c_in, c, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c),
                    nn.ReLU(),
                ]
                c_in = c
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.num_features = c_in
        self.head = nn.Linear(c_in, len(cfg.names))

    def features(self, x: Tensor) -> Tensor:
        """The last block's output averaged over space: (B, 4 * width), the domain FD's features."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """Outputs (B, len(names)): class logits, attribute logits (binary) or scores (real)."""
        return self.head(self.features(x))

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Batch-mean loss for the target: cross-entropy over class ids (B,), BCE with logits over
        0/1 attributes (B, A), or MSE over real-valued attributes (B, A)."""
        if self.cfg.target == "classes":
            return F.cross_entropy(outputs, targets)
        if self.cfg.target == "binary":
            return F.binary_cross_entropy_with_logits(outputs, targets)
        return F.mse_loss(outputs, targets)

    @torch.inference_mode()
    def scores(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Of uint8 (N, H, W, C) images, (N, len(names)): class probabilities, attribute
        probabilities (binary) or attribute values (real)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        for i in range(0, len(images), batch_size):
            y = self(to_model(torch.from_numpy(images[i : i + batch_size]).to(device)))
            if self.cfg.target == "classes":
                y = y.softmax(1)
            elif self.cfg.target == "binary":
                y = y.sigmoid()
            out.append(y.float().cpu())
        self.train(was_training)
        return torch.cat(out).numpy()

    def predict(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Of uint8 (N, H, W, C) images: class ids (N,), or 0/1 or real attributes (N, A)."""
        scores = self.scores(images, batch_size)
        if self.cfg.target == "classes":
            return scores.argmax(1)
        if self.cfg.target == "binary":
            return (scores > 0.5).astype(np.float32)
        return scores

    def score(self, images: np.ndarray, targets: np.ndarray) -> float:
        """Accuracy (classes), mean per-attribute accuracy (binary) or MSE (real)."""
        predicted = self.predict(images)
        if self.cfg.target == "real":
            return float(np.mean((predicted - targets) ** 2))
        return float(np.mean(predicted == targets))


def targets_of(data: Dataset, target: Target) -> np.ndarray:
    """What a judge learns: labels (N,) for classes, else float32 attributes (N, A) of that kind;
    DataError if the data set has none."""
    if target == "classes":
        if data.labels is None:
            raise DataError(f"data set '{data.name}' has no class labels")
        return data.labels
    if data.attributes is None or data.attribute_kind != target:
        raise DataError(f"data set '{data.name}' has no {target} attributes")
    return data.attributes.astype(np.float32)


def default_target(data: Dataset) -> Target:
    """Class labels where there are any, else the data set's attributes."""
    kind, _ = data.annotation("an evaluator learns to predict one of them")
    return "classes" if kind == "class" else kind


def train_evaluator(
    train_set: Dataset,
    test_set: Dataset,
    out: Path,
    *,
    target: Target | None = None,
    steps: int = 2000,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[Evaluator, float]:
    """Train on `train_set`'s labels or attributes, score on `test_set` (SCORE), save to `out`."""
    target = target or default_target(train_set)
    names = train_set.class_names if target == "classes" else train_set.attribute_names
    cfg = EvaluatorConfig(
        data=train_set.name,
        image_size=train_set.image_size,
        channels=train_set.channels,
        target=target,
        names=names,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
    )
    torch.manual_seed(seed)
    model = Evaluator(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    images = torch.from_numpy(train_set.images).to(device)
    targets = torch.from_numpy(targets_of(train_set, target)).to(device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    for _ in progress_bar(range(steps), enabled=progress, desc="evaluator", unit="step"):
        index = torch.randint(len(images), (batch_size,), generator=g).to(device)
        loss = model.loss(model(to_model(images[index])), targets[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    score = model.score(test_set.images, targets_of(test_set, target))
    save_evaluator(model, score, out)
    return model.eval(), score


def save_evaluator(model: Evaluator, score: float, out: Path) -> None:
    """Write out/evaluator.safetensors (the weights) and out/evaluator.json (config and test score),
    each atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    atomic_save_tensors(state, out / "evaluator.safetensors")
    info = {
        "config": asdict(model.cfg),
        "test_metric": SCORE[model.cfg.target],
        "test_score": score,
    }
    atomic_write_text(out / "evaluator.json", json.dumps(info, indent=2) + "\n")


def load_evaluator(path: Path, device: torch.device | str = "cpu") -> tuple[Evaluator, dict]:
    """The evaluator saved in folder `path`, in eval mode, and its JSON record."""
    path = Path(path)
    info_file = path / "evaluator.json"
    if not info_file.is_file():
        raise CheckpointError(
            f"{info_file}: no evaluator here; train one with `vaegan train-evaluator --out {path}`"
        )
    try:
        info = json.loads(info_file.read_text())
        raw = dict(info["config"])
        raw["names"] = tuple(raw["names"])
        cfg = EvaluatorConfig(**raw)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{info_file}: not an evaluator record ({err})") from None
    model = Evaluator(cfg)
    load_weights(model, path / "evaluator.safetensors")
    return model.to(device).eval(), info
