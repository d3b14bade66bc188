"""Nothing lost, nothing silently wrong: one run per folder, verified checkpoints, a resumed
config that cannot redefine its run, and checkpoint folders that survive links and crashes."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import vaegan
from vaegan.checkpoint import find_any
from vaegan.errors import CheckpointError, VaeganError
from vaegan.files import DirectoryLock
from vaegan.training import train

from helpers import redigest, tiny_config


def test_a_second_run_on_a_held_folder_fails_at_once_naming_the_holder(tmp_path, idx_dir):
    run = tmp_path / "run"
    held = pytest.raises(VaeganError, match=f"in use by another run \\(pid {os.getpid()}\\)")
    with DirectoryLock(run), held:  # another run in progress
        train(tiny_config(idx_dir, steps=1), run, progress=False)
    assert not (run / "checkpoint").exists() and not (run / "config.json").exists()
    train(tiny_config(idx_dir, steps=1), run, progress=False)  # free again once released


def test_a_lock_left_by_a_killed_process_blocks_nothing(tmp_path, idx_dir):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vaegan.files import DirectoryLock; "
            f"DirectoryLock({str(run)!r}).__enter__(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(VaeganError, match=f"pid {holder.pid}"):
        train(tiny_config(idx_dir, steps=1), run, progress=False)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    train(tiny_config(idx_dir, steps=1), run, progress=False)
    assert (run / "checkpoint/model.safetensors").is_file()


def test_changed_bytes_in_a_checkpoint_are_refused_on_every_load(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=1)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    file = run / "checkpoint/model.safetensors"
    data = bytearray(file.read_bytes())
    data[-64:] = bytes(64)  # 64 bytes of weights zeroed: still a valid safetensors file
    file.write_bytes(bytes(data))
    for load in (
        lambda: vaegan.load(run),
        lambda: train(replace(cfg, train=replace(cfg.train, steps=2)), run, resume=True),
    ):
        with pytest.raises(CheckpointError, match=f"{file}: its SHA-256 differs"):
            load()


def test_nan_weights_are_refused(tmp_path, idx_dir):
    run = tmp_path / "run"
    train(tiny_config(idx_dir, steps=1), run, progress=False)
    file = run / "checkpoint/model.safetensors"
    tensors = load_file(file)
    tensors["dec.body.13.weight"] = torch.full_like(tensors["dec.body.13.weight"], float("nan"))
    save_file(tensors, file)
    redigest(file.parent)
    with pytest.raises(CheckpointError, match="tensor 'dec.body.13.weight' holds NaN or inf"):
        vaegan.load(run)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [("model", "variant", "vae_disl"), ("optim", "lr", 0.1), ("loss", "gamma", 3.0)],
)
def test_resume_refuses_a_config_edited_to_another_run(tmp_path, idx_dir, section, field, value):
    cfg = tiny_config(idx_dir, steps=1)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    edited = json.loads((run / "config.json").read_text())
    edited[section][field] = value
    edited["train"]["steps"] = 2
    (run / "config.json").write_text(json.dumps(edited))
    with pytest.raises(VaeganError, match=f"{section}.{field} is .*checkpoint was trained with"):
        train(vaegan.RunConfig.load(run / "config.json"), run, resume=True, progress=False)
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 1


def test_resume_may_change_steps_and_logging(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=1)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    more = replace(cfg, train=replace(cfg.train, steps=3, log_every=2, sample_every=3))
    train(more, run, resume=True, progress=False)
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 3


def test_a_linked_checkpoint_folder_keeps_saving(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=1)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    (run / "checkpoint").rename(tmp_path / "elsewhere")
    (run / "checkpoint").symlink_to(tmp_path / "elsewhere")
    for steps in (2, 3):  # the second save would fail on a dangling checkpoint.old link
        train(replace(cfg, train=replace(cfg.train, steps=steps)), run, resume=True)
    assert not (run / "checkpoint").is_symlink()
    assert not (run / "checkpoint.old").exists() and not (run / "checkpoint.old").is_symlink()
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 3
    assert (tmp_path / "elsewhere/model.safetensors").is_file()  # what the link pointed to


def test_folders_of_saves_cut_short_are_cleared(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=1)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    crashed = run / ".checkpoint.k2j4x"  # what a save killed before its rename leaves
    crashed.mkdir()
    (crashed / "model.safetensors").write_bytes(b"x" * 1000)
    train(replace(cfg, train=replace(cfg.train, steps=2)), run, resume=True, progress=False)
    assert not crashed.exists()


@pytest.mark.slow
def test_runs_killed_at_random_moments_resume_to_the_same_weights(tmp_path, idx_dir):
    """SIGKILL (no handler runs) three times at seeded random moments, resuming after each:
    the final weights equal those of a run never interrupted."""
    cfg = tiny_config(idx_dir, steps=300)
    cfg = replace(cfg, train=replace(cfg.train, checkpoint_every=7, log_every=5, sample_every=50))
    train(cfg, tmp_path / "whole", progress=False)
    config = tmp_path / "config.json"
    cfg.save(config)
    run = tmp_path / "run"
    env = os.environ | {"OMP_NUM_THREADS": "1"}  # as this process: the same float sums
    command = [sys.executable, "-m", "vaegan", "train", "--out", str(run), "--quiet"]
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(20):
        resume = ["--resume"] if find_any(run) else ["--config", str(config)]
        proc = subprocess.Popen([*command, *resume], env=env, stderr=subprocess.PIPE, text=True)
        if kills < 3:
            started = (
                (run / "metrics.jsonl").stat().st_size if (run / "metrics.jsonl").exists() else 0
            )
            while proc.poll() is None and not metrics_grew(run, started):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere in the steps, a save, or a log write
            proc.send_signal(signal.SIGKILL)
            kills += proc.wait() == -signal.SIGKILL
            continue
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        break
    assert kills == 3
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 300
    whole = load_file(tmp_path / "whole/checkpoint/model.safetensors")
    resumed = load_file(run / "checkpoint/model.safetensors")
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def metrics_grew(run, size):
    path = run / "metrics.jsonl"
    return path.exists() and path.stat().st_size > size
