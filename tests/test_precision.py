"""Speed options of the step: bf16/fp16 autocast, channels_last and torch.compile, on the CPU."""

import copy
import json
from dataclasses import replace

import pytest
import torch

from vaegan.config import LossConfig, ModelConfig, OptimConfig
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers
from vaegan.precision import Precision
from vaegan.step import step_gradients, train_step
from vaegan.training import train

from helpers import tiny_config


def setup(seed: int = 0):
    torch.manual_seed(seed)
    model = VAEGAN(ModelConfig(image_size=16, channels=1, z_dim=4, width=0.125))
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return model, x


def step(model, x, **kwargs) -> dict:
    optimizers = make_optimizers(model, OptimConfig())
    g = torch.Generator().manual_seed(2)
    stats = train_step(model, optimizers, x, LossConfig(margin=None), g, **kwargs)
    return {k: float(v) for k, v in stats.items() if k.startswith("l_")}


def weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def assert_same_update(a, b) -> None:
    """Weights equal up to float summation order: |b - a| / |a| < 1e-5 (elementwise bounds do not
    suit RMSprop's first step, which moves a weight with a ~0 gradient by +-3 lr either way)."""
    wa, wb = weights(a), weights(b)
    assert (wb - wa).norm() / wa.norm() < 1e-5


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_reduced_precision_tracks_fp32(name):
    """Same weights, batch and noise: losses within a few percent, and each network's gradient
    (fp16: of the scaled loss, divided by the scale) pointing where fp32's points."""
    model, x = setup()
    precision = Precision(name, "cpu", init_scale=256.0)  # no overflow at the first step
    results = {}
    for label, p in (("fp32", Precision()), (name, precision)):
        g = torch.Generator().manual_seed(2)
        grads, stats, _ = step_gradients(model, x, LossConfig(margin=None), g, precision=p)
        scale = p.state_dict()["scale"] if p.scaler else 1.0
        flat = {n: torch.cat([g.flatten() for g in gs]) / scale for n, gs in grads.items()}
        results[label] = ({k: float(v) for k, v in stats.items()}, flat)
    (stats32, grads32), (stats_low, grads_low) = results["fp32"], results[name]
    for key, value in stats32.items():
        assert stats_low[key] == pytest.approx(value, rel=0.05, abs=0.05), key
    for net, g in grads32.items():
        assert torch.isfinite(grads_low[net]).all()
        # 8 (bf16) or 11 (fp16) significant bits through three networks' backward passes
        assert torch.nn.functional.cosine_similarity(g, grads_low[net], dim=0) > 0.95, net


def test_fp16_steps_unscale_or_skip():
    """An optimizer step under fp16 either applies the unscaled update or, when the scaled
    gradient overflowed, is skipped and the scale backs off; the next steps go through."""
    model, x = setup()
    precision = Precision("fp16", "cpu")
    before = weights(model)
    for _ in range(3):
        stats = step(model, x, precision=precision)
    assert all(v == v for v in stats.values())  # no NaN reaches the logged losses
    assert not torch.equal(weights(model), before)
    assert 0 < precision.state_dict()["scale"] <= 65536.0


def test_channels_last_changes_nothing_but_layout():
    a, x = setup()
    b = copy.deepcopy(a).to(memory_format=torch.channels_last)
    la = step(a, x)
    lb = step(b, x.contiguous(memory_format=torch.channels_last))
    assert lb == pytest.approx(la, rel=1e-5)
    assert_same_update(a, b)


@pytest.mark.slow
def test_compiled_networks_give_the_same_step():
    a, x = setup()
    b = copy.deepcopy(a)
    keys = list(b.state_dict())
    b.compile_networks(backend="aot_eager")  # graph capture and autograd, no C++ build in CI
    assert list(b.state_dict()) == keys  # checkpoints do not see the compilation
    assert step(b, x) == pytest.approx(step(a, x), rel=1e-5)
    assert_same_update(a, b)


def test_fp16_scaler_state_is_checkpointed_and_resumed(idx_dir, tmp_path):
    cfg = tiny_config(idx_dir, steps=2)
    cfg = replace(cfg, train=replace(cfg.train, precision="fp16", channels_last=True))
    train(cfg, tmp_path / "run", progress=False)
    trainer = json.loads((tmp_path / "run" / "checkpoint" / "trainer.json").read_text())
    assert trainer["grad_scaler"]["scale"] > 0
    resumed = replace(cfg, train=replace(cfg.train, steps=3))
    train(resumed, tmp_path / "run", resume=True, progress=False)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "flags, expected",
    [(" fpu avx512f avx512_bf16 amx_bf16 amx_tile", "bf16"), (" fpu avx2 avx512f", "fp32")],
)
def test_auto_is_bf16_only_where_the_cpu_has_amx(flags, expected, tmp_path, monkeypatch):
    import vaegan.precision as precision_module

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t:{flags}\n")
    monkeypatch.setattr(precision_module, "CPUINFO", str(cpuinfo))
    assert precision_module.resolve_precision("auto", "cpu") == expected
    assert Precision("auto", "cpu").name == expected
    assert precision_module.resolve_precision("fp16", "cpu") == "fp16"  # only auto is resolved
    monkeypatch.setattr(precision_module, "CPUINFO", str(tmp_path / "missing"))
    assert precision_module.resolve_precision("auto", "cpu") == "fp32"


def test_a_run_with_auto_precision_trains_and_says_what_it_chose(tmp_path, idx_dir, caplog):
    cfg = tiny_config(idx_dir, steps=2)
    cfg = replace(cfg, train=replace(cfg.train, precision="auto"))
    caplog.set_level("INFO", logger="vaegan")
    train(cfg, tmp_path / "run", progress=False)
    chosen = Precision("auto", "cpu").name
    assert f"precision auto: {chosen} on cpu" in caplog.text
    assert json.loads((tmp_path / "run/config.json").read_text())["train"]["precision"] == "auto"


def test_resuming_auto_on_other_hardware_says_it_is_no_longer_exact(
    tmp_path, idx_dir, monkeypatch, caplog
):
    import vaegan.precision as precision_module

    def cpu_with(flags: str) -> None:
        cpuinfo = tmp_path / f"cpuinfo-{len(flags)}"
        cpuinfo.write_text(f"flags\t\t:{flags}\n")
        monkeypatch.setattr(precision_module, "CPUINFO", str(cpuinfo))

    cfg = tiny_config(idx_dir, steps=2)
    cfg = replace(cfg, train=replace(cfg.train, precision="auto", checkpoint_every=2))
    cpu_with(" avx512f amx_bf16")
    train(cfg, tmp_path / "run", progress=False)
    trainer = json.loads((tmp_path / "run/checkpoint/trainer.json").read_text())
    assert trainer["precision"] == "bf16"
    cpu_with(" avx2")  # the same run, resumed where there is no AMX
    longer = replace(cfg, train=replace(cfg.train, steps=4))
    train(longer, tmp_path / "run", resume=True, progress=False)
    assert "steps up to 2 ran in bf16, the rest run in fp32" in caplog.text
