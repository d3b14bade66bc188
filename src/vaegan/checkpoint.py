"""Checkpoints as safetensors + JSON, written atomically; nothing is ever unpickled.

A run directory holds `config.json` and `checkpoint/` with:
    model.safetensors    weights and BN buffers, keys prefixed enc./dec./dis.
    config.json          the resolved run config (the model is rebuilt from it)
    trainer.safetensors  optimizer state tensors
    trainer.json         step, optimizer hyper-parameters
An exported model folder (vaegan.export) has no optimizer state: `model.json` (step, the
SHA-256 of model.safetensors) takes trainer.json's place, and loads the same way.
The checkpoint folder is written beside the old one and swapped in by renames, so a crash at any
moment leaves one complete checkpoint behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import nn

from vaegan.config import RunConfig
from vaegan.errors import CheckpointError, ConfigError
from vaegan.files import (
    atomic_write_text,
    file_sha256,
    load_weights,
    os_reason,
    publish_permissions,
    read_json,
    read_safetensors,
    remove_path,
)
from vaegan.models import VAEGAN

CHECKPOINT_DIR = "checkpoint"
# 2: trainer.json records the SHA-256 of both tensor files, checked on every load (format 1
# checkpoints, written before, load without that check).
FORMAT_VERSION = 2
TENSOR_FILES = ("model.safetensors", "trainer.safetensors")
# The record of an exported model (no trainer state): {"format": 1, "step", "sha256": {file: hex}}.
MODEL_RECORD = "model.json"


def find_checkpoint(path: Path) -> Path:
    """The checkpoint folder of a run folder, or `path` itself if it is one."""
    path = Path(path)
    for candidate in (path / CHECKPOINT_DIR, path, path / f"{CHECKPOINT_DIR}.old"):
        if (candidate / "model.safetensors").is_file():
            return candidate
    if not path.exists():
        raise CheckpointError(f"{path}: run directory not found")
    raise CheckpointError(
        f"{path}: no checkpoint found (expected {path / CHECKPOINT_DIR / 'model.safetensors'})"
    )


def save_checkpoint(
    run_dir: Path,
    model: VAEGAN,
    optimizers: dict[str, torch.optim.Optimizer],
    config: RunConfig,
    step: int,
    grad_scaler: dict | None = None,
    precision: str | None = None,
) -> Path:
    """Write the checkpoint folder atomically; `grad_scaler`: fp16's scaler state, if any;
    `precision`: the one the steps ran in (train.precision "auto" resolved), recorded."""
    run_dir = Path(run_dir)
    final = run_dir / CHECKPOINT_DIR
    old = run_dir / f"{CHECKPOINT_DIR}.old"
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".{CHECKPOINT_DIR}."))
    try:
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, tmp / "model.safetensors", metadata={"step": str(step)})
        config.save(tmp / "config.json")
        tensors, groups = {}, {}
        for name, opt in optimizers.items():
            t, groups[name] = _flatten_optimizer(name, opt)
            tensors |= t
        save_file(tensors, tmp / "trainer.safetensors")
        digests = {name: file_sha256(tmp / name) for name in TENSOR_FILES}
        trainer = {"format": FORMAT_VERSION, "step": step, "sha256": digests, "optimizers": groups}
        if grad_scaler is not None:
            trainer["grad_scaler"] = grad_scaler
        if precision is not None:
            trainer["precision"] = precision
        atomic_write_text(tmp / "trainer.json", json.dumps(trainer, indent=2) + "\n")
        for file in tmp.iterdir():  # safetensors writes 0600 files
            publish_permissions(file)
        publish_permissions(tmp, directory=True)
        # Swap: checkpoint -> checkpoint.old, tmp -> checkpoint, drop old. find_checkpoint
        # falls back to checkpoint.old if we die between the two renames.
        if final.exists() or final.is_symlink():
            remove_path(old)
            os.replace(final, old)
        os.replace(tmp, final)
        remove_path(old)
    except (OSError, SafetensorError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = "the previous checkpoint is intact" if find_any(run_dir) else "none was written"
        raise CheckpointError(
            f"{final}: cannot write the checkpoint ({os_reason(err)}); {kept}"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the error that brought us here is the one to see
        raise
    return final


def find_any(run_dir: Path) -> bool:
    """True if find_checkpoint finds a checkpoint in `run_dir`; never raises."""
    try:
        find_checkpoint(run_dir)
    except CheckpointError:
        return False
    return True


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary checkpoint folders that saves cut short by a crash left behind (call
    it while holding the run's lock: no save of another process can be under way)."""
    for leftover in Path(run_dir).glob(f".{CHECKPOINT_DIR}.*"):
        remove_path(leftover)


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[VAEGAN, RunConfig]:
    """Rebuild the model from a checkpoint's config and load its weights (eval mode)."""
    ckpt = find_checkpoint(path)
    try:
        config = RunConfig.load(ckpt / "config.json")
    except ConfigError as err:
        raise CheckpointError(str(err)) from None
    model = VAEGAN(config.model)
    load_checkpoint_weights(model, ckpt)
    return model.to(device).eval(), config


def record_file(ckpt: Path) -> Path:
    """Where a folder records its step and digests: trainer.json in a checkpoint, model.json in
    an exported model (which ships no optimizer state)."""
    trainer, model = ckpt / "trainer.json", ckpt / MODEL_RECORD
    return model if model.is_file() and not trainer.is_file() else trainer


def verify_digests(ckpt: Path) -> None:
    """The tensor files are byte for byte those the checkpoint was written with."""
    record = record_file(ckpt)
    trainer = read_json(record, CheckpointError)
    digests = trainer.get("sha256")
    if not isinstance(trainer.get("format", 1), int):
        raise CheckpointError(f"{record}: 'format' must be an integer")
    if record.name == "trainer.json" and trainer.get("format", 1) < 2:
        return
    if not isinstance(digests, dict):
        raise CheckpointError(f"{record}: no 'sha256' of the tensor files")
    for name in TENSOR_FILES if record.name == "trainer.json" else ("model.safetensors",):
        file = ckpt / name
        if not file.is_file():
            raise CheckpointError(f"{file}: file not found")
        if file_sha256(file) != digests.get(name):
            raise CheckpointError(
                f"{file}: its SHA-256 differs from the one recorded in {record.name}: the file "
                "is damaged or was changed after it was saved"
            )


def load_checkpoint_weights(model: nn.Module, ckpt: Path) -> None:
    """A checkpoint's weights into `model`, after checking the file's digest; refuses NaN or
    inf, which would only turn into NaN images and metrics downstream."""
    verify_digests(ckpt)
    load_weights(model, ckpt / "model.safetensors")
    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(
                f"{ckpt / 'model.safetensors'}: tensor '{key}' holds NaN or inf values"
            )


def checkpoint_step(ckpt: Path) -> int:
    """The step a checkpoint folder (or exported model) was taken after."""
    record = record_file(ckpt)
    step = read_json(record, CheckpointError).get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{record}: 'step' must be an integer >= 0, got {step!r}")
    return step


def load_trainer_state(ckpt: Path, optimizers: dict[str, torch.optim.Optimizer]) -> int:
    """Restore optimizer states in place; return the step the checkpoint was taken after."""
    trainer = read_json(ckpt / "trainer.json", CheckpointError)
    tensors = read_safetensors(ckpt / "trainer.safetensors")
    for name, opt in optimizers.items():
        if name not in trainer.get("optimizers", {}):
            raise CheckpointError(f"{ckpt / 'trainer.json'}: no optimizer state for '{name}'")
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            parts = key.split(".", 2)
            if len(parts) != 3 or not parts[1].isdigit():
                raise CheckpointError(f"{ckpt / 'trainer.safetensors'}: unexpected tensor '{key}'")
            if parts[0] == name:
                state.setdefault(int(parts[1]), {})[parts[2]] = value
        check_state_shapes(state, opt, ckpt / "trainer.safetensors", name)
        try:
            opt.load_state_dict({"state": state, "param_groups": trainer["optimizers"][name]})
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"{ckpt}: optimizer state of '{name}' does not fit ({err})"
            ) from None
    return checkpoint_step(ckpt)


def check_state_shapes(
    state: dict[int, dict[str, torch.Tensor]], opt: torch.optim.Optimizer, file: Path, name: str
) -> None:
    """Every saved state tensor has its parameter's shape (a step counter: one number), so a
    mismatch fails here, naming the tensor, rather than at the first step."""
    params = [p for group in opt.param_groups for p in group["params"]]
    for index, fields in state.items():
        if index >= len(params):
            raise CheckpointError(
                f"{file}: state for parameter {index} of '{name}', which has {len(params)}"
            )
        for field, value in fields.items():
            expected = () if field == "step" else tuple(params[index].shape)
            if field == "step" and value.numel() == 1:
                continue
            if tuple(value.shape) != expected:
                raise CheckpointError(
                    f"{file}: tensor '{name}.{index}.{field}' has shape {tuple(value.shape)}, "
                    f"the parameter {expected}"
                )


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, list]:
    """Optimizer state as flat tensors `name.index.field`, and its param groups for JSON."""
    sd = opt.state_dict()
    tensors = {}
    for index, fields in sd["state"].items():
        for field, value in fields.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{name}.{index}.{field}"] = value.detach().contiguous()
    return tensors, sd["param_groups"]
