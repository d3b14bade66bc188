"""The Python API for research: images in any layout and dtype, batches, gradients, half
precision, training with callbacks, configs as the CLI resolves them, and progress without a
terminal."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import vaegan
from vaegan.cli import main
from vaegan.config import ModelConfig
from vaegan.errors import VaeganError
from vaegan.images import to_model
from vaegan.models import VAEGAN

from helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(**options) -> VAEGAN:
    """A fresh tiny model whose BatchNorm statistics are those of its own activations, so that in
    eval mode its images depend on z as a trained model's do (at init they would be near 0)."""
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=32, channels=1, z_dim=8, width=0.0625, **options)
    model = VAEGAN(cfg)
    with torch.no_grad():
        for _ in range(40):
            x = model.dec(torch.randn(64, 8))
            model.enc(x)
    return model.eval()


def uint8_images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 32, 32, 1), dtype=np.uint8)


def test_images_in_any_layout_and_dtype_encode_alike():
    model, hwc = tiny_model(), uint8_images()
    reference = model.encode(to_model(torch.from_numpy(hwc)))
    chw = torch.from_numpy(hwc).permute(0, 3, 1, 2)
    for x in (hwc, torch.from_numpy(hwc), chw, to_model(torch.from_numpy(hwc)).double()):
        torch.testing.assert_close(model.encode(x), reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.encode(hwc[0]), reference[:1], rtol=1e-5, atol=1e-5)
    grey = model.encode(hwc[..., 0])  # (B, H, W): a batch of grey images
    torch.testing.assert_close(grey, reference, rtol=1e-5, atol=1e-5)
    with pytest.raises(VaeganError, match=r"shape \(5, 32, 32, 3\).*\(B, 1, 32, 32\)"):
        model.encode(np.zeros((5, 32, 32, 3), np.uint8))
    with pytest.raises(VaeganError, match="dtype torch.int64"):
        model.encode(torch.zeros(2, 1, 32, 32, dtype=torch.long))
    with pytest.raises(VaeganError, match=r"range over \[0, 255\].*\[-1, 1\]"):
        model.encode(hwc.astype(np.float32))  # 0..255 floats: not what they look like
    assert model.sample(0).shape == (0, 1, 32, 32)
    with pytest.raises(VaeganError, match=r"codes of shape \(3, 7\)"):
        model.decode(torch.zeros(3, 7))


def test_batch_size_changes_nothing_but_the_batches():
    model, x = tiny_model(), uint8_images(7)
    torch.testing.assert_close(model.encode(x, batch_size=3), model.encode(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        model.reconstruct(x, batch_size=2), model.reconstruct(x), atol=1e-6, rtol=0
    )
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    many = model.sample(9, generator=g1, batch_size=4)
    torch.testing.assert_close(many, model.sample(9, generator=g2), atol=1e-6, rtol=0)
    assert model.decode(torch.zeros(0, 8)).shape == (0, 1, 32, 32)
    with pytest.raises(VaeganError, match="batch_size 0"):
        model.sample(2, batch_size=0)


def test_gradients_when_asked_let_a_code_be_optimised():
    model = tiny_model()
    model.train()  # the caller's mode: inference switches to eval and back
    target = model.decode(torch.randn(1, 8, generator=torch.Generator().manual_seed(1)))
    assert not target.requires_grad and model.training and model.dec.training
    z = torch.zeros(1, 8, requires_grad=True)
    opt = torch.optim.Adam([z], lr=0.1)
    losses = []
    for _ in range(40):
        loss = (model.decode(z, grad=True) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert z.grad is not None and losses[0] > 1e-3 and losses[-1] < 0.2 * losses[0]
    assert model.dec.training  # put back
    x = torch.from_numpy(uint8_images(2)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    x.requires_grad_(True)
    model.encode(x, grad=True).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("prior", ["standard", "fitted"])
def test_a_model_moved_to_half_precision_samples(dtype, prior):
    model = tiny_model(prior=prior)
    g = torch.Generator().manual_seed(0)
    full = model.sample(4, generator=g)
    half = model.to(dtype)
    assert half.dtype == dtype
    out = half.sample(4, generator=g.manual_seed(0))
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert full.std() > 0.03  # images, not a constant
    assert (out.float() - full).abs().max() < 0.1  # the same images, to half precision
    assert half.reconstruct(uint8_images(2)).dtype == dtype
    # uint8 images become exactly the training path's floats, rounded once to the model's dtype
    from vaegan.images import as_model_images

    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(2, 1).repeat(2, 2)
    expected = to_model(torch.from_numpy(images)).to(dtype)
    assert torch.equal(as_model_images(images, 1, 32, dtype), expected)


class Recorder(vaegan.Callback):
    def __init__(self):
        self.calls = []

    def on_start(self, model, config, run_dir, step):
        self.calls.append(("start", step, type(model).__name__, config.train.steps))

    def on_log(self, step, values):
        self.calls.append(("log", step, sorted(k for k in values if k.startswith("l_"))))

    def on_samples(self, step, grids):
        self.calls.append(
            ("samples", step, sorted(grids), all(p.is_file() for p in grids.values()))
        )

    def on_end(self, step, checkpoint):
        self.calls.append(("end", step, checkpoint.name))


def test_training_from_python_calls_back_per_interval(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=4)
    cfg = replace(cfg, train=replace(cfg.train, log_every=2, sample_every=2))
    recorder = Recorder()
    ckpt = vaegan.train(cfg, tmp_path / "run", callbacks=[recorder], progress=False)
    losses = ["l_adv", "l_dis", "l_llike", "l_prior"]
    grids = ("samples", 2, ["reconstructions", "samples"], True)
    assert [c[:3] for c in recorder.calls if c[0] == "log"] == [
        ("log", 2, losses),
        ("log", 4, losses),
    ]
    assert recorder.calls[0] == ("start", 0, "VAEGAN", 4)
    assert grids in recorder.calls and ("samples", 4, *grids[2:]) in recorder.calls
    assert recorder.calls[-1] == ("end", 4, "checkpoint") and ckpt.name == "checkpoint"
    again = Recorder()  # a finished run: nothing to do, so no hook but on_start
    vaegan.train(cfg, tmp_path / "run", callbacks=[again], resume=True, progress=False)
    assert [c[0] for c in again.calls] == ["start"]
    with pytest.raises(VaeganError, match="run directory not found"):
        vaegan.load(str(tmp_path / "nope"))  # a typo in a local path, not a Hub id
    model = vaegan.load(tmp_path / "run")  # device "auto": the CPU here
    assert model.device.type == "cpu" and model.sample(2).shape == (2, 1, 32, 32)


def test_make_config_resolves_as_the_cli(tmp_path):
    from vaegan.cli import build_config, parser

    sets = ["--set", "loss.r1=0.5", "--set", "model.variant=vae"]
    args = ["train", "--out", str(tmp_path), "--preset", "demo", "--data", "mnist", *sets]
    from_cli = build_config(parser().parse_args(args))
    as_dict = vaegan.make_config(
        "demo", data="mnist", overrides={"loss.r1": 0.5, "model.variant": "vae"}
    )
    as_list = vaegan.make_config(
        "demo", data="mnist", overrides=["loss.r1=0.5", "model.variant=vae"]
    )
    assert from_cli == as_dict == as_list and as_dict.loss.r1 == 0.5
    with pytest.raises(VaeganError, match=r"preset demo \+ overrides: unknown key 'loss.nope'"):
        vaegan.make_config("demo", overrides={"loss.nope": 1})


def test_progress_without_a_terminal_is_one_line_per_interval(tmp_path, idx_dir, capsys):
    common = ["train", "--data", "fashion-mnist", "--data-dir", str(idx_dir), "--steps", "4"]
    common += ["--batch-size", "4", "--width", "0.0625", "--z-dim", "8", "--device", "cpu"]
    common += ["--set", "train.log_every=2", "--set", "train.sample_every=4"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"], err
    assert "img/s" in lines[0] and "l_llike" in lines[0] and "\r" not in err
    assert main(["--log-level", "warning", *common, "--out", str(tmp_path / "b")]) == 0
    assert "step " not in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "c"), "--log-level", "warning"]) == 0
    assert "step " not in capsys.readouterr().err  # after the subcommand, too


@pytest.mark.slow
def test_the_python_api_example_runs(tmp_path, idx_dir):
    """examples/python_api.py, as a user would run it, on the tiny data set and a few steps."""
    script = ROOT / "examples" / "python_api.py"
    args = ["--data-dir", str(idx_dir), "--steps", "4", "--width", "0.0625", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for name in ("samples.png", "interpolation.png", "optimised.png"):
        assert (tmp_path / name).is_file(), done.stdout
    assert "latent optimisation" in done.stdout
