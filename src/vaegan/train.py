"""The training loop shared by every variant: batches, step, log, grids, checkpoints, resume."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vaegan.checkpoint import (
    CHECKPOINT_DIR,
    checkpoint_step,
    find_checkpoint,
    load_trainer_state,
    save_checkpoint,
)
from vaegan.conditions import condition_values, with_condition
from vaegan.config import LossConfig, RunConfig
from vaegan.data import Dataset, load_run_data
from vaegan.data.batches import Batches
from vaegan.distributed import (
    Distributed,
    check_batch,
    from_environment,
    shutdown,
    sync_batchnorm,
)
from vaegan.errors import CheckpointError, ConfigError, TrainingDiverged, VaeganError
from vaegan.files import atomic_write_text, load_weights, read_json
from vaegan.images import interleave_rows, save_images, to_model, to_uint8
from vaegan.metrics.quality import domain_names, domain_quality
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers, set_learning_rates, update_average
from vaegan.precision import Precision
from vaegan.prior import fit_prior
from vaegan.step import train_step


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}' (auto, cpu, cuda, cuda:N or mps)") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise ConfigError(f"device '{name}' requested but it is not available here")
    return device


class StopRequest:
    """Turns the first Ctrl-C into a request to stop after the current step; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # noqa: ANN001 (signal handler signature)
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

    def __init__(self, path: Path, resume_step: int) -> None:
        self.path = path
        self.sums: dict[str, torch.Tensor | float] = {}
        self.count = 0
        self.started = time.perf_counter()
        if path.exists():  # drop lines logged after the checkpoint we resume from
            kept = [ln for ln in path.read_text().splitlines() if _step_of(ln) <= resume_step]
            atomic_write_text(path, "".join(ln + "\n" for ln in kept))

    def write(self, line: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def add(self, stats: dict[str, torch.Tensor | float]) -> None:
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def flush(self, step: int, batch_size: int) -> dict[str, float]:
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


def step_seed(seed: int, step: int) -> int:
    """Seed of the noise (eps, z_p) of one step: resuming needs no RNG state."""
    return (seed * 1_000_003 + step) % (2**63)


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

    def write(self, step: int) -> None:
        g = torch.Generator(device=self.model.device).manual_seed(self.seed)
        z = self.model.draw_codes(self.n, g)
        samples = to_uint8(self.model.decode(z, self.y))
        save_images(samples, self.out / f"samples_{step:06d}.png", self.ncol)
        if self.model.enc is not None:
            recon = to_uint8(self.model.reconstruct(self.x, self.y_x))
            pairs = interleave_rows(to_uint8(self.x), recon, self.ncol)
            save_images(pairs, self.out / f"reconstructions_{step:06d}.png", self.ncol)


def prepare_run_dir(cfg: RunConfig, run_dir: Path, resume: bool, write: bool = True) -> None:
    """Fresh run: refuse to overwrite a checkpoint. Both: write the resolved config (`write`:
    every rank checks, so that all fail together; only the main rank writes)."""
    if resume:
        done = checkpoint_step(find_checkpoint(run_dir))
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
        cfg.save(run_dir / "config.json")  # on resume, --steps may have grown


def train(
    cfg: RunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    cache_dir: Path | None = None,
) -> Path:
    """Train the configured variant into `run_dir`; returns the checkpoint folder.

    Started by `torchrun --nproc-per-node N`, each process trains on its share of every batch
    (docs/SCALING.md); the main rank alone writes logs, grids and checkpoints.
    cache_dir: where preprocessed data sets are cached (None: the user's cache directory).
    """
    joined = not torch.distributed.is_initialized()  # a caller's own process group stays
    dist, device_name = from_environment(cfg.train.device)
    try:
        return _train(cfg, Path(run_dir), dist, resolve_device(device_name), resume,
                      progress and dist.main, cache_dir)  # fmt: skip
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
) -> Path:
    check_batch(cfg.train.batch_size, dist.world)
    # Data first: a missing or broken data set fails before the run directory is touched. The
    # main rank builds the cache while the others wait, then they read it.
    if not dist.main:
        dist.barrier()
    try:
        train_set = load_run_data(cfg, cfg.data.split, cache_dir=cache_dir, progress=progress)
        held_out = load_run_data(cfg, "test", cache_dir=cache_dir, progress=progress)
    finally:  # on an error too: the others then meet it themselves, and all stop
        if dist.main:
            dist.barrier()
    cfg = with_condition(cfg, train_set)  # conditional models: the data's classes or attributes
    prepare_run_dir(cfg, run_dir, resume, write=dist.main)

    torch.manual_seed(cfg.train.seed)  # initial weights are a function of the seed
    model = VAEGAN(cfg.model).to(device)
    if cfg.train.sync_batchnorm:
        sync_batchnorm(model)  # global-batch statistics (no-op in a single process)
    memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    if cfg.train.compile:
        model.compile_networks()
    precision = Precision(cfg.train.precision, device)
    optimizers = make_optimizers(model, cfg.optim)
    start = 0
    if resume:
        ckpt = find_checkpoint(run_dir)
        load_weights(model, ckpt / "model.safetensors")
        start = load_trainer_state(ckpt, optimizers)
        precision.load_state_dict(
            read_json(ckpt / "trainer.json", CheckpointError).get("grad_scaler")
        )
    conditions = condition_values(train_set, cfg.model)
    batches = Batches(
        train_set.images, cfg.train.batch_size, seed=cfg.train.seed, device=device,
        flip=cfg.data.flip, conditions=conditions,
    )  # fmt: skip
    generator = torch.Generator(device=device)
    main = dist.main  # logs, grids, evaluation and checkpoint files: the main rank's work
    metrics = Metrics(run_dir / "metrics.jsonl", resume_step=start) if main else None
    grids = Grids(model, cfg, held_out, run_dir / "samples") if main else None
    quality = None
    if cfg.train.eval_every and main:
        evaluator = cfg.train.evaluator or str(Path("evaluators") / cfg.data.name)
        images = held_out.images[: cfg.train.eval_n]
        # Conditional models sample under the held-out images' conditions.
        eval_conditions = condition_values(held_out, cfg.model, cfg.train.eval_n)
        quality = domain_quality(
            evaluator, cfg.data.name, images, device=device, conditions=eval_conditions
        )
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    last_saved = start if resume else None  # step of the newest checkpoint on disk

    def diverged(at: int) -> TrainingDiverged:
        kept = f"the last good checkpoint (step {last_saved}) is intact" if last_saved else (
            "no checkpoint was written")  # fmt: skip
        return TrainingDiverged(
            f"{run_dir}: a loss or weight became NaN or inf between step {last_saved or start} "
            f"and {at}; {kept}. Try a lower --lr."
        )

    def finite_so_far() -> bool:
        """Losses of every step so far, and the weights as they are now: one host sync."""
        state = [t.float() for t in model.state_dict().values()]
        weights_ok = torch.stack([torch.isfinite(t).all() for t in state]).all()
        return bool(weights_ok & ~nonfinite)

    def checkpoint(at: int) -> None:
        nonlocal last_saved
        if not finite_so_far():
            raise diverged(at)
        dist.check_agree(list(model.state_dict().values()), "weights")
        if main:
            save_checkpoint(run_dir, model, optimizers, cfg, at, precision.state_dict())
        dist.barrier()
        last_saved = at

    bar = tqdm(total=cfg.train.steps, initial=start, disable=not progress, unit="step")
    with StopRequest() as stop:
        for step in range(start, cfg.train.steps):
            x = dist.shard(batches(step))  # this rank's rows of the global batch
            x = x.contiguous(memory_format=memory_format)
            y = batches.condition(step)
            y = None if y is None else dist.shard(y)
            generator.manual_seed(step_seed(cfg.train.seed, step))
            set_learning_rates(optimizers, cfg.optim, step, cfg.train.steps)
            stats = train_step(model, optimizers, x, cfg.loss, generator, dist, precision, y,
                               kl_weight(cfg.loss, step))  # fmt: skip
            update_average(model, step)
            losses = [v for k, v in stats.items() if k.startswith("l_")]
            nonfinite |= ~torch.isfinite(torch.stack(losses)).all()  # alike on every rank
            bar.update(1)
            done = step + 1
            log = done % cfg.train.log_every == 0 or done == cfg.train.steps
            refit = cfg.model.prior == "fitted" and prior_due(cfg, done)
            if (log or refit) and bool(nonfinite):
                raise diverged(done)
            if refit:
                refit_prior(model, train_set.images, dist)
            if main:
                metrics.add(stats)
                if log:
                    line = metrics.flush(done, cfg.train.batch_size)
                    shown = {k: v for k, v in line.items() if k.startswith("l_")}
                    bar.set_postfix(img_s=f"{line['images_per_s']:.0f}", **shown)
                if done % cfg.train.sample_every == 0 or done == cfg.train.steps:
                    grids.write(done)
                if quality is not None and done % cfg.train.eval_every == 0:
                    metrics.write({"step": done} | domain_names(quality(model)))
            if done % cfg.train.checkpoint_every == 0 or done == cfg.train.steps:
                checkpoint(done)
            if dist.any(stop.requested, device) and done < cfg.train.steps:
                if last_saved != done:
                    checkpoint(done)
                bar.close()
                raise KeyboardInterrupt(f"stopped at step {done}; resume with --resume")
    bar.close()
    if start >= cfg.train.steps and main:
        print(f"{run_dir}: already trained for {start} steps (--steps {cfg.train.steps})")
    return run_dir / CHECKPOINT_DIR
