"""`vaegan export`: a trained run as a model folder that travels (docs/EXPORT.md).

    DIR/model.safetensors  the weights: Enc, Dec, Dis, their moving averages, the fitted prior
    DIR/config.json        the resolved run config, which rebuilds the model
    DIR/model.json         {"format": 1, "step", "sha256": {"model.safetensors": hex}}
    DIR/README.md          the model card (Hugging Face front matter), written from config.json
    DIR/eval.json          the run's evaluations, as `vaegan evaluate` wrote them (if any)
    DIR/samples.png        the run's newest sample grid up to the exported step (if any)
    DIR/decoder.onnx       with onnx=True: Dec as inference uses it, z (B, z_dim) [, y (B, K)] -> x

`vaegan.load(DIR)` reads it as it reads a checkpoint (model.json stands in for trainer.json); it
holds no optimizer state, so no run resumes from it. The folder is built beside DIR and renamed
into place: a crash leaves no half-written model behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from vaegan.card import ONNX_FILE, Exported, metric_rows, model_card
from vaegan.checkpoint import CHECKPOINT_DIR, MODEL_RECORD, checkpoint_step, find_checkpoint
from vaegan.checkpoint import load_model as load_checkpoint
from vaegan.config import RunConfig
from vaegan.decoder_onnx import export_decoder_onnx, require_onnx
from vaegan.errors import VaeganError
from vaegan.files import (
    atomic_save_tensors,
    atomic_write_text,
    file_sha256,
    os_reason,
    publish_permissions,
)
from vaegan.models import VAEGAN
from vaegan.records import read_evaluations


def export_model(run: Path, out: Path, onnx: bool = False, *, repo_id: str | None = None) -> Path:
    """Write the model folder `out` from a run (or checkpoint) folder; returns `out`.

    `repo_id`: the Hub repository the folder is for, which the card's example loads from.
    """
    run, out = Path(run), Path(out)
    check_destination(out)
    if onnx:
        require_onnx()
    ckpt = find_checkpoint(run)
    model, config = load_checkpoint(ckpt)  # checks the digests and that every weight is finite
    step = checkpoint_step(ckpt)
    source = run_folder(ckpt)
    samples = newest_samples(source, step)
    evaluations = read_evaluations(source)  # either format; a malformed file is an error
    exported = Exported(
        config=config,
        step=step,
        metrics=tuple(metric_rows(evaluations)),
        samples_step=samples[0] if samples else None,
        onnx=onnx,
        load_as=repo_id or out.name or str(out),
    )
    tmp = make_temporary(out)
    try:
        write_model(tmp, model, config, step)
        atomic_write_text(tmp / "README.md", model_card(exported))
        if evaluations:  # the file as the run has it: its details beyond the numbers
            shutil.copyfile(source / "eval.json", tmp / "eval.json")
        if samples:
            shutil.copyfile(samples[1], tmp / "samples.png")
        if onnx:
            export_decoder_onnx(model, tmp / ONNX_FILE)
        publish_permissions(tmp, directory=True)
        os.replace(tmp, out)  # onto a missing or empty folder: atomic
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise VaeganError(f"{out}: cannot write the model folder ({os_reason(err)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_destination(out: Path) -> None:
    """`out` is free: missing, or an empty folder (never written over)."""
    if out.is_dir() and any(out.iterdir()):
        raise VaeganError(f"{out}: folder exists and is not empty; choose a new one")
    if out.exists() and not out.is_dir():
        raise VaeganError(f"{out}: exists and is not a folder")


def make_temporary(out: Path) -> Path:
    """An empty folder beside `out` (same file system, so it can be renamed into place)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    except OSError as err:
        raise VaeganError(f"{out.parent}: cannot write there ({os_reason(err)})") from None


def run_folder(ckpt: Path) -> Path:
    """The folder with eval.json and the grids: the run of a checkpoint folder, or the folder
    itself (an exported model exports again)."""
    return ckpt.parent if ckpt.name in (CHECKPOINT_DIR, f"{CHECKPOINT_DIR}.old") else ckpt


def newest_samples(run: Path, step: int) -> tuple[int, Path] | None:
    """(step, file) of the run's newest sample grid up to `step` (a crash can leave grids
    past the last checkpoint), or of an exported model's samples.png; None if there is none."""
    grids = []
    for file in (run / "samples").glob("samples_*.png"):
        match = re.fullmatch(r"samples_(\d+)\.png", file.name)
        if match and int(match[1]) <= step:
            grids.append((int(match[1]), file))
    if not grids and (run / "samples.png").is_file():
        return step, run / "samples.png"
    return max(grids) if grids else None


def write_model(folder: Path, model: VAEGAN, config: RunConfig, step: int) -> None:
    """model.safetensors, config.json and model.json (the step and the weights' SHA-256)."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    atomic_save_tensors(state, folder / "model.safetensors", metadata={"step": str(step)})
    config.save(folder / "config.json")
    record = {
        "format": 1,
        "step": step,
        "sha256": {"model.safetensors": file_sha256(folder / "model.safetensors")},
    }
    atomic_write_text(folder / MODEL_RECORD, json.dumps(record, indent=2) + "\n")
