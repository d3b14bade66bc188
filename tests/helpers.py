"""Helpers the tests share: IDX files in the official layout, tiny run configs."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np

from vaegan.checkpoint import TENSOR_FILES
from vaegan.config import DataConfig, LossConfig, ModelConfig, RunConfig, TrainConfig
from vaegan.files import file_sha256


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dataset(root: Path, n_train: int = 64, n_test: int = 16, seed: int = 0) -> Path:
    """A Fashion-MNIST-shaped data set (28x28, 10 classes), gzipped as distributed.

    Each class is a bright square at its own place, so a model has something to learn.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 4)
            images[i, 2 + 6 * r : 8 + 6 * r, 2 + 6 * c : 8 + 6 * c] = 255
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return root


def tiny_config(data_dir: Path, variant: str = "vaegan", steps: int = 4, **train) -> RunConfig:
    """32x32x1 networks at 1/16 width, z of 8, batch 4: a step takes milliseconds."""
    return RunConfig(
        model=ModelConfig(variant=variant, image_size=32, channels=1, z_dim=8, width=0.0625),
        loss=LossConfig(),
        data=DataConfig(name="fashion-mnist", data_dir=str(data_dir)),
        train=TrainConfig(
            steps=steps,
            batch_size=4,
            log_every=1,
            sample_every=steps,
            checkpoint_every=steps,
            grid_size=8,
            device="cpu",
            **train,
        ),
    )


def redigest(ckpt: Path) -> None:
    """Record the tensor files' current SHA-256 in trainer.json, as if the checkpoint had been
    written that way: tests of the checks that come after the digest's use it."""
    trainer = json.loads((ckpt / "trainer.json").read_text())
    trainer["sha256"] = {name: file_sha256(ckpt / name) for name in TENSOR_FILES}
    (ckpt / "trainer.json").write_text(json.dumps(trainer))
