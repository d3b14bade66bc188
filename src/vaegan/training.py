"""The training loop shared by every variant: batches, step, log, grids, checkpoints, resume."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vaegan.allocator import keep_freed_memory
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
from vaegan.config import RESUME_MAY_CHANGE, LossConfig, RunConfig, differences
from vaegan.data import Dataset, load_run_data
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
from vaegan.files import DirectoryLock, read_json
from vaegan.judge import default_evaluator
from vaegan.metrics.quality import SampleQuality, domain_quality
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers, set_learning_rates, update_average
from vaegan.precision import Precision
from vaegan.prior import fit_prior
from vaegan.progress import bar as progress_bar
from vaegan.progress import interactive, logger
from vaegan.run_outputs import Grids, Log, Metrics, write_outputs
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
    if device.type == "cpu" and keep_freed_memory():  # steps reuse their freed activations
        logger.debug("glibc keeps freed memory for reuse (vaegan.allocator)")
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
            with self.untimed():
                refit_prior(self.model, self.images, self.dist)
        if self.log is not None:
            write_outputs(self.log, stats, done, self.cfg, self.model, bar, log_due)
        if done % t.checkpoint_every == 0 or done == t.steps:
            with self.untimed():
                self.saver.save(done)

    def untimed(self) -> contextlib.AbstractContextManager:
        """Work left out of the logged images/s (a no-op on ranks that log nothing)."""
        return contextlib.nullcontext() if self.log is None else self.log.metrics.paused()


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
