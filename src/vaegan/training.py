"""The training loop shared by every variant: batches, step, log, grids, checkpoints, resume."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vaegan.board import Board, require_tensorboard
from vaegan.callbacks import Callback
from vaegan.checkpoint import (
    CHECKPOINT_DIR,
    checkpoint_step,
    find_checkpoint,
    load_checkpoint_weights,
    load_trainer_state,
    remove_stale_temporaries,
    save_checkpoint,
)
from vaegan.conditions import condition_values, with_condition
from vaegan.config import (
    RESUME_MAY_CHANGE,
    DataConfig,
    LossConfig,
    ModelConfig,
    RunConfig,
    deep_merge,
    differences,
    dotted_override,
    read_config_file,
)
from vaegan.data import DATASETS, Dataset, load_run_data
from vaegan.data.batches import Batches, stream_seed
from vaegan.devices import resolve_device
from vaegan.distributed import (
    Distributed,
    check_batch,
    from_environment,
    shutdown,
    sync_batchnorm,
)
from vaegan.errors import CheckpointError, ConfigError, TrainingDiverged, VaeganError
from vaegan.files import DirectoryLock, atomic_write_text, read_json
from vaegan.images import interleave_rows, save_images, to_model, to_uint8
from vaegan.judge import default_evaluator
from vaegan.metrics.quality import SampleQuality, domain_names, domain_quality
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers, set_learning_rates, update_average
from vaegan.precision import Precision
from vaegan.presets import preset as named_preset
from vaegan.prior import fit_prior
from vaegan.progress import bar as progress_bar
from vaegan.progress import interactive, logger
from vaegan.report import write_report
from vaegan.step import train_step


class StopRequest:
    """Turns the first Ctrl-C into a request to stop after the current step; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _step_of(line: str) -> float:
    """Step of a metrics.jsonl line; a line cut short by a crash counts as past any step."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


class Metrics:
    """Sums per-step scalars on the device; one host sync per logging interval."""

    def __init__(self, path: Path, resume_step: int, board: Board | None = None) -> None:
        self.path, self.board = path, board
        self.sums: dict[str, torch.Tensor | float] = {}
        self.count = 0
        self.started = time.perf_counter()
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
        elapsed = time.perf_counter() - self.started
        line = {"step": step, "images_per_s": self.count * batch_size / elapsed, **means}
        self.write(line)
        self.sums, self.count, self.started = {}, 0, time.perf_counter()
        return line


def kl_weight(cfg: LossConfig, step: int) -> float:
    """L_prior's weight at `step` (0-based): 1, or a linear ramp over the first kl_warmup steps."""
    return 1.0 if cfg.kl_warmup == 0 else min(1.0, (step + 1) / cfg.kl_warmup)


def prior_due(cfg: RunConfig, done: int) -> bool:
    """Whether a fitted prior is refitted after `done` steps: before anything samples or saves."""
    t = cfg.train
    every = [t.sample_every, t.checkpoint_every] + ([t.eval_every] if t.eval_every else [])
    return done == t.steps or any(done % n == 0 for n in every)


def refit_prior(model: VAEGAN, images: np.ndarray, dist: Distributed) -> None:
    """Fit the prior on every rank (the same weights and images), then average it so that it is
    bit-equal across ranks whatever the kernels do."""
    fit_prior(model, images)
    fitted = [model.prior_weights, model.prior_means, model.prior_scales]
    for buffer, mean in zip(fitted, dist.mean(fitted), strict=True):
        buffer.copy_(mean)


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


def check_resumable(cfg: RunConfig, ckpt: Path, run_dir: Path) -> None:
    """The config to resume with redefines nothing the checkpoint was trained with."""
    try:
        saved = RunConfig.load(ckpt / "config.json")
    except ConfigError as err:
        raise CheckpointError(str(err)) from None
    changed = {k: v for k, v in differences(cfg, saved).items() if k not in RESUME_MAY_CHANGE}
    if changed:
        key, (now, then) = next(iter(changed.items()))
        raise VaeganError(
            f"{run_dir / 'config.json'}: {key} is {now!r}, but the checkpoint was trained with "
            f"{then!r}; a resumed run may change only its steps, device, logging and data_dir"
        )


def prepare_run_dir(cfg: RunConfig, run_dir: Path, resume: bool, write: bool = True) -> None:
    """Fresh run: refuse to overwrite a checkpoint. Resume: refuse a config that redefines the
    run. Both: write the resolved config (`write`: every rank checks, so that all fail together;
    only the main rank writes, and clears what crashed saves left)."""
    if resume:
        ckpt = find_checkpoint(run_dir)
        check_resumable(cfg, ckpt, run_dir)
        done = checkpoint_step(ckpt)
        if cfg.train.steps < done:
            raise VaeganError(
                f"{run_dir}: its checkpoint is at step {done}; --steps {cfg.train.steps} would "
                "go back (training never undoes steps)"
            )
    elif (run_dir / CHECKPOINT_DIR).exists() or (run_dir / f"{CHECKPOINT_DIR}.old").exists():
        raise VaeganError(
            f"{run_dir}: already holds a checkpoint; pass --resume to continue it, "
            "or choose another --out"
        )
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
        cfg.save(run_dir / "config.json")  # on resume, --steps may have grown


def make_config(
    preset: str | None = None,
    *,
    data: str | None = None,
    config: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    source: str | None = None,
) -> RunConfig:
    """A run config as `vaegan train` resolves it: the paper's defaults at the data set's image
    shape, then a named preset, a JSON config file (whole or partial) and dotted overrides
    ({"loss.gamma": 1e-6} or ["loss.gamma=1e-6"]), each over the ones before; `data` (a data set
    name) over them all, as the CLI's --data. `source` names them in error messages."""
    layers = [named_preset(preset)] if preset else []
    layers += [read_config_file(Path(config))] if config else []
    if isinstance(overrides, Mapping):
        overrides = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    layers += [dotted_override(item) for item in overrides]
    names = [layer.get("data", {}).get("name") for layer in layers]
    data = data or next((n for n in reversed(names) if isinstance(n, str)), None)
    raw = default_config(data if data in DATASETS else None).to_dict()
    for layer in [*layers, {"data": {"name": data}} if data else {}]:  # `data` over the rest
        raw = deep_merge(raw, layer)
    given = [
        f"preset {preset}" if preset else "",
        str(config or ""),
        "overrides" if overrides else "",
    ]
    return RunConfig.from_dict(raw, source=source or " + ".join(filter(None, given)) or "defaults")


def default_config(data: str | None) -> RunConfig:
    """The paper's defaults with the image shape of data set `data` (Fashion-MNIST: 32x32x1)."""
    name = data or DataConfig().name
    spec = DATASETS[name]
    model = ModelConfig(image_size=spec.image_size, channels=spec.channels)
    return RunConfig(model=model, data=DataConfig(name=name))


def train(
    cfg: RunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    cache_dir: Path | None = None,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Train the configured variant into `run_dir`; returns the checkpoint folder.

    Started by `torchrun --nproc-per-node N`, each process trains on its share of every batch
    (docs/SCALING.md); the main rank alone writes logs, grids and checkpoints.
    resume: continue the run in `run_dir` from its checkpoint (bit-identical to an unbroken run).
    progress: a bar on a terminal, else one logged line per logging interval.
    cache_dir: where preprocessed data sets are cached (None: the user's cache directory).
    callbacks: vaegan.Callback objects, called on the main process (docs/API.md).
    """
    joined = not torch.distributed.is_initialized()  # a caller's own process group stays
    dist, device_name = from_environment(cfg.train.device)
    try:
        return _train(
            cfg,
            Path(run_dir),
            dist,
            resolve_device(device_name),
            resume,
            progress and dist.main,
            cache_dir,
            tuple(callbacks),
        )
    finally:
        if joined:
            shutdown()


def _train(
    cfg: RunConfig,
    run_dir: Path,
    dist: Distributed,
    device: torch.device,
    resume: bool,
    progress: bool,
    cache_dir: Path | None,
    callbacks: tuple[Callback, ...] = (),
) -> Path:
    check_batch(cfg.train.batch_size, dist.world)
    if cfg.train.tensorboard:
        require_tensorboard()  # on every rank, so that all fail together
    train_set, held_out = load_data(cfg, dist, cache_dir, progress)
    cfg = with_condition(cfg, train_set)  # conditional models: the data's classes or attributes
    with run_lock(run_dir, dist, device):
        return train_in(
            cfg, run_dir, dist, device, resume, progress, train_set, held_out, callbacks
        )


@contextlib.contextmanager
def run_lock(run_dir: Path, dist: Distributed, device: torch.device) -> Iterator[None]:
    """One run per folder: the main rank holds the lock until the run ends, however it ends. If it
    cannot, every rank stops with its message (the others would wait in vain for it)."""
    lock, refusal = DirectoryLock(run_dir), None
    if dist.main:
        try:
            lock.__enter__()
        except VaeganError as err:
            refusal = err
    if dist.any(refusal is not None, device):
        raise refusal or VaeganError(f"{run_dir}: the main process could not take the run's lock")
    try:
        yield
    finally:
        lock.__exit__()


def train_in(
    cfg: RunConfig,
    run_dir: Path,
    dist: Distributed,
    device: torch.device,
    resume: bool,
    progress: bool,
    train_set: Dataset,
    held_out: Dataset,
    callbacks: tuple[Callback, ...] = (),
) -> Path:
    """Train in a run folder this process holds (the main rank) or shares (the others)."""
    prepare_run_dir(cfg, run_dir, resume, write=dist.main)
    model = build_model(cfg, device)
    precision = Precision(cfg.train.precision, device)
    if cfg.train.precision == "auto" and dist.main:
        logger.info(f"precision auto: {precision.name} on {device}")
    optimizers = make_optimizers(model, cfg.optim)
    start = restore(run_dir, model, optimizers, precision) if resume else 0
    saver = Checkpointer(
        run_dir, model, optimizers, cfg, precision, dist, start if resume else None
    )
    log = None
    if dist.main:  # logs, grids, evaluation and checkpoint files: the main rank's work
        log = Log(
            metrics=Metrics(
                run_dir / "metrics.jsonl",
                start,
                Board(run_dir, start) if cfg.train.tensorboard else None,
            ),
            grids=Grids(model, cfg, held_out, run_dir / "samples"),
            quality=quality_probe(cfg, held_out, device),
            run_dir=run_dir,
            callbacks=callbacks,
            plain=progress and not interactive(),
        )
        for callback in callbacks:
            callback.on_start(model, cfg, run_dir, start)
    batches = make_batches(cfg, train_set, device)
    run = Training(cfg, model, optimizers, precision, batches, train_set.images, dist, saver, log)
    try:
        run_steps(run, start, progress)
    finally:
        if log is not None and log.metrics.board is not None:
            log.metrics.board.close()
    if dist.main and start >= cfg.train.steps:
        logger.info(f"{run_dir}: already trained for {start} steps (--steps {cfg.train.steps})")
    elif dist.main:  # steps ran and the last one's checkpoint is written
        for callback in callbacks:
            callback.on_end(cfg.train.steps, run_dir / CHECKPOINT_DIR)
    return run_dir / CHECKPOINT_DIR


def make_batches(cfg: RunConfig, train_set: Dataset, device: torch.device) -> Batches:
    """The training set's batches on `device`, seeded by `train.seed`, flipped as `data.flip` says,
    with each image's condition y for conditional models."""
    conditions = condition_values(train_set, cfg.model)  # conditional models' y, per image
    return Batches(
        train_set.images,
        cfg.train.batch_size,
        seed=cfg.train.seed,
        device=device,
        flip=cfg.data.flip,
        conditions=conditions,
    )


def load_data(
    cfg: RunConfig, dist: Distributed, cache_dir: Path | None, progress: bool
) -> tuple[Dataset, Dataset]:
    """The training split and the held-out test split. Data first: a missing or broken data set
    fails before the run directory is touched. The main rank builds the cache while the others
    wait, then they read it."""
    if not dist.main:
        dist.barrier()
    try:
        train_set = load_run_data(cfg, cfg.data.split, cache_dir=cache_dir, progress=progress)
        held_out = load_run_data(cfg, "test", cache_dir=cache_dir, progress=progress)
    finally:  # on an error too: the others then meet it themselves, and all stop
        if dist.main:
            dist.barrier()
    return train_set, held_out


def memory_format(cfg: RunConfig) -> torch.memory_format:
    """torch.channels_last when `train.channels_last` is set, else the contiguous (NCHW) format."""
    return torch.channels_last if cfg.train.channels_last else torch.contiguous_format


def build_model(cfg: RunConfig, device: torch.device) -> VAEGAN:
    """A fresh model on `device`, its weights drawn from `train.seed`; SyncBatchNorm, memory format
    and torch.compile as the config asks."""
    torch.manual_seed(cfg.train.seed)  # initial weights are a function of the seed
    model = VAEGAN(cfg.model).to(device)
    if cfg.train.sync_batchnorm:
        sync_batchnorm(model)  # global-batch statistics (no-op in a single process)
    model.to(memory_format=memory_format(cfg))
    if cfg.train.compile:
        model.compile_networks()
    return model


def restore(
    run_dir: Path,
    model: VAEGAN,
    optimizers: dict[str, torch.optim.Optimizer],
    precision: Precision,
) -> int:
    """Weights, optimizer states and fp16's scaler from the run's checkpoint; its step."""
    ckpt = find_checkpoint(run_dir)
    load_checkpoint_weights(model, ckpt)
    start = load_trainer_state(ckpt, optimizers)
    trainer = read_json(ckpt / "trainer.json", CheckpointError)
    precision.load_state_dict(trainer.get("grad_scaler"))
    earlier = trainer.get("precision", precision.name)
    if earlier != precision.name:  # "auto" on other hardware: allowed, but no longer exact
        logger.warning(
            f"{run_dir}: steps up to {start} ran in {earlier}, the rest run in {precision.name} "
            "(precision auto on this hardware); the weights will differ from an unbroken run's"
        )
    return start


def quality_probe(cfg: RunConfig, held_out: Dataset, device: torch.device) -> SampleQuality | None:
    """The domain FD/KD of samples every `eval_every` steps, against the first eval_n held-out
    images (conditional models sample under those images' conditions); None when off."""
    if not cfg.train.eval_every:
        return None
    evaluator = cfg.train.evaluator or str(default_evaluator(cfg.data.name))
    images = held_out.images[: cfg.train.eval_n]
    conditions = condition_values(held_out, cfg.model, cfg.train.eval_n)
    return domain_quality(evaluator, cfg.data.name, images, device=device, conditions=conditions)


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


class Checkpointer:
    """Saves checkpoints, after checking that no loss or weight has become NaN or inf since the
    last one (`nonfinite` gathers the steps' losses on the device: no sync per step)."""

    def __init__(
        self,
        run_dir: Path,
        model: VAEGAN,
        optimizers: dict[str, torch.optim.Optimizer],
        cfg: RunConfig,
        precision: Precision,
        dist: Distributed,
        last_saved: int | None,
    ) -> None:
        self.run_dir, self.model, self.optimizers, self.cfg = run_dir, model, optimizers, cfg
        self.precision, self.dist = precision, dist
        self.last_saved = last_saved  # step of the newest checkpoint on disk (None: none yet)
        self.start = last_saved or 0
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=model.device)

    def watch(self, stats: dict[str, torch.Tensor | float]) -> None:
        """Note on the device, without a sync, whether a loss (`l_*` stat) is NaN or inf."""
        losses = [v for k, v in stats.items() if k.startswith("l_")]
        self.nonfinite |= ~torch.isfinite(torch.stack(losses)).all()  # alike on every rank

    def diverged(self, at: int) -> TrainingDiverged:
        """The error to raise: between which steps it failed, which checkpoint is intact, a hint."""
        kept = (
            f"the last good checkpoint (step {self.last_saved}) is intact"
            if self.last_saved
            else "no checkpoint was written"
        )
        return TrainingDiverged(
            f"{self.run_dir}: a loss or weight became NaN or inf between step "
            f"{self.last_saved or self.start} and {at}; {kept}. Try a lower --lr."
        )

    def check(self, at: int) -> None:
        """Raise if a loss so far was not finite (one host sync)."""
        if bool(self.nonfinite):
            raise self.diverged(at)

    def finite_so_far(self) -> bool:
        """Losses of every step so far, and the weights as they are now: one host sync."""
        state = [t.float() for t in self.model.state_dict().values()]
        weights_ok = torch.stack([torch.isfinite(t).all() for t in state]).all()
        return bool(weights_ok & ~self.nonfinite)

    def save(self, at: int) -> None:
        """Checkpoint step `at` (the main rank writes, all ranks wait). TrainingDiverged instead,
        the last checkpoint kept, if a loss or weight is NaN or inf or the ranks' weights differ."""
        if not self.finite_so_far():
            raise self.diverged(at)
        self.dist.check_agree(list(self.model.state_dict().values()), "weights")
        if self.dist.main:
            save_checkpoint(
                self.run_dir,
                self.model,
                self.optimizers,
                self.cfg,
                at,
                self.precision.state_dict(),
                self.precision.name,
            )
        self.dist.barrier()
        self.last_saved = at


@dataclass
class Training:
    """What one run's steps work with."""

    cfg: RunConfig
    model: VAEGAN
    optimizers: dict[str, torch.optim.Optimizer]
    precision: Precision
    batches: Batches
    images: np.ndarray  # the training images, which a fitted prior is refitted to
    dist: Distributed
    saver: Checkpointer
    log: Log | None  # the main rank's outputs; None on the others

    def step(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor | float]:
        """Training step `step` (0-based) on its batch, then the weights' moving average."""
        x = self.dist.shard(self.batches(step))  # this rank's rows of the global batch
        x = x.contiguous(memory_format=memory_format(self.cfg))
        y = self.batches.condition(step)
        y = None if y is None else self.dist.shard(y)
        generator.manual_seed(stream_seed(self.cfg.train.seed, step) % 2**63)  # eps and z_p
        set_learning_rates(self.optimizers, self.cfg.optim, step, self.cfg.train.steps)
        weight = kl_weight(self.cfg.loss, step)
        stats = train_step(
            self.model,
            self.optimizers,
            x,
            self.cfg.loss,
            generator,
            self.dist,
            self.precision,
            y,
            weight,
        )
        update_average(self.model, step)
        self.saver.watch(stats)
        return stats

    def after(self, done: int, stats: dict[str, torch.Tensor | float], bar: tqdm) -> None:
        """After `done` steps: the divergence check when anything syncs, the prior's refit,
        logs, grids and the quality probe, and a checkpoint, each when due."""
        t = self.cfg.train
        log_due = done % t.log_every == 0 or done == t.steps
        refit = self.cfg.model.prior == "fitted" and prior_due(self.cfg, done)
        if log_due or refit:
            self.saver.check(done)
        if refit:
            refit_prior(self.model, self.images, self.dist)
        if self.log is not None:
            write_outputs(self.log, stats, done, self.cfg, self.model, bar, log_due)
        if done % t.checkpoint_every == 0 or done == t.steps:
            self.saver.save(done)


def run_steps(run: Training, start: int, progress: bool) -> None:
    """Steps start .. the last, each followed by what is due; Ctrl-C stops after the current
    step with a checkpoint."""
    steps = run.cfg.train.steps
    bar = progress_bar(total=steps, initial=start, enabled=progress, unit="step")
    generator = torch.Generator(device=run.model.device)
    with StopRequest() as stop:
        for step in range(start, steps):
            stats = run.step(step, generator)
            bar.update(1)
            done = step + 1
            run.after(done, stats, bar)
            if run.dist.any(stop.requested, run.model.device) and done < steps:
                if run.saver.last_saved != done:
                    run.saver.save(done)
                bar.close()
                raise KeyboardInterrupt(f"stopped at step {done}; resume with --resume")
    bar.close()


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
