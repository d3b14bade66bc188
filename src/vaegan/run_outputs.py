"""What the main process writes as a run trains: metrics.jsonl (and TensorBoard), the sample and
reconstruction grids, the quality probe's lines, report.html, progress, and the callbacks."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vaegan.board import Board
from vaegan.callbacks import Callback
from vaegan.conditions import condition_values
from vaegan.config import RunConfig
from vaegan.data import Dataset
from vaegan.errors import VaeganError
from vaegan.files import atomic_write_text
from vaegan.images import interleave_rows, save_images, to_model, to_uint8
from vaegan.metrics.quality import SampleQuality, domain_names
from vaegan.models import VAEGAN
from vaegan.progress import logger
from vaegan.report import write_report


def _step_of(line: str) -> float:
    """Step of a metrics.jsonl line; a line cut short by a crash counts as past any step."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


class Metrics:
    """Sums per-step scalars on the device; one host sync per logging interval. images_per_s
    counts the steps' time only: work done `paused()` (prior refits, grids, checkpoints) is left
    out."""

    def __init__(self, path: Path, resume_step: int, board: Board | None = None) -> None:
        self.path, self.board = path, board
        self.sums: dict[str, torch.Tensor | float] = {}
        self.count = 0
        self.started = time.perf_counter()
        self.paused_s = 0.0
        if path.exists():  # drop lines logged after the checkpoint we resume from
            kept = [ln for ln in path.read_text().splitlines() if _step_of(ln) <= resume_step]
            atomic_write_text(path, "".join(ln + "\n" for ln in kept))

    def write(self, line: dict[str, float]) -> None:
        """Append `line` to metrics.jsonl, and its scalars to TensorBoard if the run logs there."""
        with self.path.open("a") as f:
            f.write(json.dumps(line) + "\n")
        if self.board is not None:
            self.board.scalars(line)

    def add(self, stats: dict[str, torch.Tensor | float]) -> None:
        """Add one step's stats to the sums; tensors stay on the device (no host sync)."""
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def flush(self, step: int, batch_size: int) -> dict[str, float]:
        """Write and return the means since the last flush, with `images_per_s`; then start anew."""
        on_device = [k for k, v in self.sums.items() if torch.is_tensor(v)]
        synced = torch.stack([self.sums[k].float() for k in on_device]).tolist()  # one sync
        sums = self.sums | dict(zip(on_device, synced, strict=True))
        means = {k: v / self.count for k, v in sums.items()}
        elapsed = time.perf_counter() - self.started - self.paused_s
        line = {"step": step, "images_per_s": self.count * batch_size / elapsed, **means}
        self.write(line)
        self.sums, self.count, self.started, self.paused_s = {}, 0, time.perf_counter(), 0.0
        return line

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Leave the time of the work inside out of images_per_s."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.paused_s += time.perf_counter() - start


class Grids:
    """Sample and reconstruction grids from the same draws every time (the same z under N(0, I))
    and fixed held-out images (conditional models: samples take the conditions of the first
    held-out images, in order)."""

    def __init__(self, model: VAEGAN, cfg: RunConfig, held_out: Dataset, out: Path) -> None:
        n = cfg.train.grid_size
        self.model, self.out, self.n, self.seed = model, out, n, cfg.train.seed + 1
        self.x = to_model(torch.from_numpy(held_out.images[: n // 2]))
        self.y = self.y_x = None
        if cfg.model.conditional:
            y = torch.from_numpy(condition_values(held_out, cfg.model))
            self.y, self.y_x = y[np.arange(n) % len(y)], y[: len(self.x)]
        self.ncol = int(np.ceil(np.sqrt(n)))

    def write(self, step: int) -> dict[str, Path]:
        """The grids of `step`, by kind ("samples", "reconstructions")."""
        g = torch.Generator(device=self.model.device).manual_seed(self.seed)
        z = self.model.draw_codes(self.n, g)
        samples = to_uint8(self.model.decode(z, self.y))
        written = {"samples": save_images(samples, self.out / f"samples_{step:06d}.png", self.ncol)}
        if self.model.enc is not None:
            recon = to_uint8(self.model.reconstruct(self.x, self.y_x))
            pairs = interleave_rows(to_uint8(self.x), recon, self.ncol)
            file = self.out / f"reconstructions_{step:06d}.png"
            written["reconstructions"] = save_images(pairs, file, self.ncol)
        return written


@dataclass
class Log:
    """The main rank's outputs as training goes: metrics.jsonl, grids, the quality probe."""

    metrics: Metrics
    grids: Grids
    quality: SampleQuality | None
    run_dir: Path  # where report.html is rewritten with each new grid
    callbacks: tuple[Callback, ...] = ()
    plain: bool = False  # progress as one logged line per interval (no terminal for a bar)

    def line(self, step: int, line: dict[str, float]) -> None:
        """A metrics.jsonl line, to the callbacks too."""
        for callback in self.callbacks:
            callback.on_log(step, line)


def write_outputs(
    log: Log,
    stats: dict[str, torch.Tensor | float],
    done: int,
    cfg: RunConfig,
    model: VAEGAN,
    bar: tqdm,
    log_due: bool,
) -> None:
    """The main rank's work after step `done`: metrics, grids, the quality probe and the report,
    each when due."""
    t = cfg.train
    log.metrics.add(stats)
    if log_due:
        line = log.metrics.flush(done, t.batch_size)
        show_progress(log, bar, line, t.steps)
        log.line(done, line)
    with log.metrics.paused():
        write_grids_and_probe(log, done, cfg, model)


def write_grids_and_probe(log: Log, done: int, cfg: RunConfig, model: VAEGAN) -> None:
    """The grids, the quality probe and the report, each when due."""
    t = cfg.train
    grid_due = done % t.sample_every == 0 or done == t.steps
    if grid_due:
        grids = log.grids.write(done)
        for kind, png in grids.items():
            if log.metrics.board is not None:
                log.metrics.board.image(kind, png, done)
        for callback in log.callbacks:
            callback.on_samples(done, grids)
    if log.quality is not None and done % t.eval_every == 0:
        line = {"step": done} | domain_names(log.quality(model))
        log.metrics.write(line)
        log.line(done, line)
    if grid_due:  # with each new grid, the page a user may be watching
        try:
            write_report([log.run_dir], log.run_dir / "report.html")
        except (VaeganError, OSError, ImportError) as err:  # a page is not worth stopping for
            # (ImportError: an environment assembled without Plotly, e.g. a GPU image)
            logger.warning(f"report.html not updated: {err}")


def show_progress(log: Log, bar: tqdm, line: dict[str, float], steps: int) -> None:
    """The interval's losses and speed: on the bar, or as one line when there is no terminal."""
    losses = {k: f"{v:.4g}" for k, v in line.items() if k.startswith("l_")}
    if log.plain:
        shown = "  ".join(f"{k} {v}" for k, v in losses.items())
        speed = line["images_per_s"]
        logger.info(f"step {line['step']}/{steps}  {speed:.0f} img/s  {shown}")
    else:
        bar.set_postfix(img_s=f"{line['images_per_s']:.0f}", **losses)
