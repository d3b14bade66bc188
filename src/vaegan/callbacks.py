"""Hooks into a training run from Python: `vaegan.train(config, run_dir, callbacks=[...])`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Callback:
    """Subclass and override what you need; each hook runs on the main process only, between
    steps (the step's tensors are already freed), so a slow hook slows training."""

    def on_start(self, model: Any, config: Any, run_dir: Path, step: int) -> None:
        """Before the first step (`step` > 0 on a resumed run): the VAEGAN being trained and its
        RunConfig. Keep `model` to look at it later; leave it in the mode you find it."""

    def on_log(self, step: int, values: dict[str, float]) -> None:
        """Each line written to metrics.jsonl: per logging interval, the mean losses (l_prior,
        l_llike, l_pixel, l_adv, l_dis: those the variant has), images_per_s and step; with
        train.eval_every, the quality probe's FD lines too."""

    def on_samples(self, step: int, grids: dict[str, Path]) -> None:
        """Per sample interval: the PNG grid of each kind ("samples", "reconstructions")."""

    def on_end(self, step: int, checkpoint: Path) -> None:
        """After the last step's checkpoint (not when the run stops early or fails)."""
