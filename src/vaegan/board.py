"""TensorBoard event files for a run (`train.tensorboard`, `--tensorboard`), so that runs appear
beside a user's other experiments: every metrics.jsonl scalar, and the sample and reconstruction
grids. Written through torch.utils.tensorboard; needs `pip install 'vaegan[tensorboard]'`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vaegan.errors import ConfigError

BOARD_DIR = "tensorboard"  # RUN/tensorboard: `tensorboard --logdir RUN` finds it


class Board:
    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "train.tensorboard needs the tensorboard package: pip install 'vaegan[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(str(Path(run_dir) / BOARD_DIR))

    def scalars(self, line: dict[str, float]) -> None:
        """One metrics.jsonl line: each number under its own name, at the line's step."""
        for key, value in line.items():
            if key != "step" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, line["step"])

    def image(self, tag: str, png: Path, step: int) -> None:
        grid = np.asarray(Image.open(png).convert("RGB"))
        self.writer.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
