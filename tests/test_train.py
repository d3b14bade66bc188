"""The loop: exact resume, checkpoints, divergence, Ctrl-C, and the files a run leaves."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

import vaegan
import vaegan.training
from vaegan.checkpoint import find_checkpoint, load_model
from vaegan.config import RunConfig
from vaegan.errors import CheckpointError, ConfigError, TrainingDiverged, VaeganError
from vaegan.step import train_step
from vaegan.training import train

from helpers import redigest, tiny_config


def weights(run_dir):
    return load_file(find_checkpoint(run_dir) / "model.safetensors")


def with_quality_options(cfg):
    """Every training option that carries state or depends on the step: the moving average, the
    fitted prior, spectral norm's vectors, R1, KL warm-up, free bits, Adam with two time-scales,
    the schedule (an epoch of 2 steps)."""
    return replace(
        cfg,
        model=replace(cfg.model, ema_decay=0.9, dis_norm="spectral", prior="fitted"),
        loss=replace(cfg.loss, r1=0.5, kl_warmup=4, free_bits=0.01, margin=None),
        optim=replace(
            cfg.optim, optimizer="adam", lr=1e-3, lr_dis=2e-3, lr_final=1e-4, epoch_steps=2
        ),
    )


@pytest.mark.parametrize("variant", ["vaegan", "gan", "vaegan+options"])
def test_resume_gives_the_same_weights(tmp_path, idx_dir, variant, monkeypatch):
    full = tiny_config(idx_dir, variant.split("+")[0], steps=6)
    full = replace(full, train=replace(full.train, checkpoint_every=3))
    if variant.endswith("+options"):
        full = with_quality_options(full)
    train(full, tmp_path / "full", progress=False)
    calls = []

    def dies_at_step_4(*args, **kwargs):  # after step 3's checkpoint, as a kill would
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("killed")
        return train_step(*args, **kwargs)

    monkeypatch.setattr(vaegan.training, "train_step", dies_at_step_4)
    with pytest.raises(RuntimeError, match="killed"):
        train(full, tmp_path / "split", progress=False)
    monkeypatch.undo()
    train(full, tmp_path / "split", resume=True, progress=False)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [json.loads(line)["step"] for line in (tmp_path / "split/metrics.jsonl").open()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_run_directory_contents(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=2)
    train(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert RunConfig.load(run / "config.json") == cfg
    ckpt = run / "checkpoint"
    assert {p.name for p in ckpt.iterdir()} == {
        "model.safetensors",
        "config.json",
        "trainer.safetensors",
        "trainer.json",
    }
    assert json.loads((ckpt / "trainer.json").read_text())["step"] == 2
    assert (run / "samples/samples_000002.png").is_file()
    assert (run / "samples/reconstructions_000002.png").is_file()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [line["step"] for line in lines] == [1, 2]
    assert {"l_prior", "l_llike", "l_dis", "l_adv", "images_per_s"} <= lines[0].keys()
    leftovers = [p for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert not leftovers  # no temporary files left (.lock stays: holding no lock, it is harmless)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(ckpt.stat().st_mode) == 0o777 & ~umask  # not the temp folder's 0700
    for file in ckpt.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file


def test_checkpoint_round_trip(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=2)
    train(cfg, tmp_path / "run", progress=False)
    model = vaegan.load(tmp_path / "run")
    assert not model.training
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    again, config = load_model(tmp_path / "run/checkpoint")
    assert config == cfg
    assert torch.equal(model.reconstruct(x), again.reconstruct(x))
    assert model.sample(5).shape == (5, 1, 32, 32)


def test_fresh_run_refuses_to_overwrite(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=1)
    train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(VaeganError, match="already holds a checkpoint; pass --resume"):
        train(cfg, tmp_path / "run", progress=False)


def test_missing_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint found") as err:
        vaegan.load(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)
    with pytest.raises(CheckpointError, match="run directory not found"):
        vaegan.load(tmp_path / "nope")


def test_checkpoint_whose_shapes_do_not_match_its_config(tmp_path, idx_dir):
    train(tiny_config(idx_dir, steps=1), tmp_path / "run", progress=False)
    file = tmp_path / "run/checkpoint/model.safetensors"
    tensors = load_file(file)
    tensors["dec.body.0.weight"] = torch.zeros(3, 3)
    save_file(tensors, file)
    redigest(file.parent)
    with pytest.raises(CheckpointError, match="dec.body.0.weight' has shape \\(3, 3\\)") as err:
        vaegan.load(tmp_path / "run")
    assert str(file) in str(err.value)


def test_corrupt_checkpoint_file(tmp_path, idx_dir):
    train(tiny_config(idx_dir, steps=1), tmp_path / "run", progress=False)
    file = tmp_path / "run/checkpoint/model.safetensors"
    file.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="SHA-256 differs from the one recorded"):
        vaegan.load(tmp_path / "run")
    redigest(file.parent)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        vaegan.load(tmp_path / "run")


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, idx_dir, monkeypatch):
    cfg = tiny_config(idx_dir, steps=8)
    cfg = replace(cfg, train=replace(cfg.train, checkpoint_every=2, log_every=4))
    run = tmp_path / "run"
    real_step, calls = vaegan.training.train_step, []

    def diverging_step(model, *args, **kwargs):  # step 3 blows the encoder up
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                model.enc.head.bias.fill_(float("inf"))
        return real_step(model, *args, **kwargs)

    monkeypatch.setattr(vaegan.training, "train_step", diverging_step)
    with pytest.raises(
        TrainingDiverged, match="NaN or inf between step 2 and 4.*\\(step 2\\) is intact"
    ):
        train(cfg, run, progress=False)
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 2
    assert all(torch.isfinite(t).all() for t in weights(run).values())


@pytest.mark.slow
def test_ctrl_c_saves_and_resumes(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=100_000)
    config = tmp_path / "config.json"
    cfg.save(config)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "vaegan", "train", "--config", str(config), "--out", str(run)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() or (run / "metrics.jsonl").stat().st_size == 0:
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume with --resume" in err
    step = json.loads((run / "checkpoint/trainer.json").read_text())["step"]
    assert step >= 1
    # and the run continues from there
    resume = [sys.executable, "-m", "vaegan", "train", "--out", str(run), "--resume"]
    more = subprocess.run(
        [*resume, "--steps", str(step + 2), "--quiet"], capture_output=True, text=True
    )
    assert more.returncode == 0, more.stderr
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == step + 2


def test_weights_that_blew_up_are_never_checkpointed(tmp_path, idx_dir, monkeypatch):
    cfg = tiny_config(idx_dir, steps=4)
    cfg = replace(cfg, train=replace(cfg.train, checkpoint_every=2, log_every=4))
    real_step, calls = vaegan.training.train_step, []

    def step_then_blow_up(model, *args, **kwargs):  # step 2's update leaves inf weights
        stats = real_step(model, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                model.dec.body[0].weight.fill_(float("inf"))
        return stats

    monkeypatch.setattr(vaegan.training, "train_step", step_then_blow_up)
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run/checkpoint").exists()


def test_resume_survives_a_cut_metrics_line_and_a_crash_between_renames(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=2)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "l_pri')  # the process died mid-write
    (run / "checkpoint").rename(run / "checkpoint.old")  # ... or between the two renames
    more = replace(cfg, train=replace(cfg.train, steps=3))
    train(more, run, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").open()]
    assert steps == [1, 2, 3]
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 3
    assert not (run / "checkpoint.old").exists()


def test_resume_refuses_to_go_back(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=3)
    train(cfg, tmp_path / "run", progress=False)
    fewer = replace(cfg, train=replace(cfg.train, steps=2))
    with pytest.raises(VaeganError, match="checkpoint is at step 3; --steps 2 would go back"):
        train(fewer, tmp_path / "run", resume=True, progress=False)


@pytest.mark.parametrize("name", ["gpu", "cuda:0"])
def test_unknown_or_missing_device(name, tmp_path, idx_dir):
    from vaegan.devices import resolve_device

    if name == "cuda:0" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=f"'{name}'"):
        resolve_device(name)


def test_images_per_s_leaves_out_paused_work(tmp_path, monkeypatch):
    """Refits, grids and checkpoints run `paused`: the logged speed is the steps' alone."""
    import types

    import vaegan.run_outputs as run_outputs

    clock = iter([0.0, 1.0, 9.0, 10.0, 10.0])  # start; pause from 1 to 9; flush at 10; restart
    monkeypatch.setattr(run_outputs, "time", types.SimpleNamespace(perf_counter=clock.__next__))
    metrics = run_outputs.Metrics(tmp_path / "metrics.jsonl", resume_step=0)
    metrics.add({"l_prior": torch.tensor(1.0)})
    with metrics.paused():  # 8 s of a prior refit, say
        pass
    metrics.add({"l_prior": torch.tensor(3.0)})
    line = metrics.flush(step=2, batch_size=10)
    assert line["images_per_s"] == 20 / 2.0  # 2 steps of 10 images in 10 s, 8 of them paused
    assert line["l_prior"] == 2.0 and metrics.paused_s == 0.0
