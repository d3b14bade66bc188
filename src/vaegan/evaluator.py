"""An independent judge: a small CNN trained on a data set's class labels.

It shares no weights and no code path with the generative models it judges (it imports neither
models.py nor step.py). Its penultimate layer gives the features of the domain Frechet distance
("FD"), and its predictions judge class-conditional edits and samples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from vaegan.checkpoint import atomic_write_text, load_weights, publish_permissions
from vaegan.data import Dataset
from vaegan.errors import CheckpointError, DataError
from vaegan.images import to_model


@dataclass(frozen=True)
class EvaluatorConfig:
    data: str
    image_size: int
    channels: int
    class_names: tuple[str, ...]
    width: int = 16  # channels of the first block; doubled per block
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


class Evaluator(nn.Module):
    """Three blocks of two 3x3 convs + BN + ReLU and a 2x2 max-pool, global mean, linear head.

    x (B, C, H, W) in [-1, 1] -> features (B, 4 * width) and logits (B, classes).
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
        self.head = nn.Linear(c_in, len(cfg.class_names))

    def features(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @torch.inference_mode()
    def predict(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Class ids of uint8 (N, H, W, C) images."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = [
            self(to_model(torch.from_numpy(images[i : i + batch_size]).to(device))).argmax(1).cpu()
            for i in range(0, len(images), batch_size)
        ]
        self.train(was_training)
        return torch.cat(out).numpy()


def train_evaluator(
    train_set: Dataset,
    test_set: Dataset,
    out: Path,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[Evaluator, float]:
    """Train on `train_set`'s labels, report accuracy on `test_set`, save to `out`."""
    if train_set.labels is None or not train_set.class_names:
        raise DataError(f"data set '{train_set.name}' has no class labels to train an evaluator on")
    cfg = EvaluatorConfig(
        data=train_set.name,
        image_size=train_set.image_size,
        channels=train_set.channels,
        class_names=train_set.class_names,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
    )
    torch.manual_seed(seed)
    model = Evaluator(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    images = torch.from_numpy(train_set.images).to(device)
    labels = torch.from_numpy(train_set.labels).to(device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    for _ in tqdm(range(steps), disable=not progress, desc="evaluator", unit="step"):
        index = torch.randint(len(images), (batch_size,), generator=g).to(device)
        loss = F.cross_entropy(model(to_model(images[index])), labels[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    accuracy = float((model.predict(test_set.images) == test_set.labels).mean())
    save_evaluator(model, accuracy, out)
    return model.eval(), accuracy


def save_evaluator(model: Evaluator, accuracy: float, out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tmp = out / ".evaluator.safetensors.tmp"
    save_file(state, tmp)
    publish_permissions(tmp)
    tmp.replace(out / "evaluator.safetensors")
    info = {"config": asdict(model.cfg), "test_accuracy": accuracy}
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
        raw["class_names"] = tuple(raw["class_names"])
        cfg = EvaluatorConfig(**raw)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{info_file}: not an evaluator record ({err})") from None
    model = Evaluator(cfg)
    load_weights(model, path / "evaluator.safetensors")
    return model.to(device).eval(), info
