"""TensorBoard event files for a run (`train.tensorboard`, `--tensorboard`), so that runs appear
beside a user's other experiments: every metrics.jsonl scalar, and the sample and reconstruction
grids. Written through torch.utils.tensorboard; needs `pip install 'vaegan[tensorboard]'`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vaegan.errors import ConfigError

BOARD_DIR = "tensorboard"  # RUN/tensorboard: `tensorboard --logdir RUN` finds it


def require_tensorboard() -> None:
    """ConfigError with the pip command if the tensorboard package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError(
            "train.tensorboard needs the tensorboard package: pip install 'vaegan[tensorboard]'"
        ) from None


class Board:
    """A run's TensorBoard event files in RUN/tensorboard."""

    def __init__(self, run_dir: Path, start: int = 0) -> None:
        """start: the step a resumed run continues from; later points of the event files are
        dropped, as metrics.jsonl drops its later lines."""
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / BOARD_DIR), purge_step=start + 1)

    def scalars(self, line: dict[str, float]) -> None:
        """One metrics.jsonl line: each number under its own name, at the line's step."""
        for key, value in line.items():
            if key != "step" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, line["step"])

    def image(self, tag: str, png: Path, step: int) -> None:
        """The PNG grid at `png`, under `tag` at `step`."""
        grid = np.asarray(Image.open(png).convert("RGB"))
        self.writer.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        """Write out pending events and close the event files."""
        self.writer.close()
