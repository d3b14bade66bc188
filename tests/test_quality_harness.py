"""benchmarks/quality.py: configuration specs, the compute budget and the FLOP count."""

import importlib.util
from pathlib import Path

import pytest

from vaegan.config import ConfigError

HARNESS = Path(__file__).parents[1] / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("quality_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_specs_split_at_top_level_commas_only(harness):
    assert harness.top_level_split("a=1,b=[0,2],c=x") == ["a=1", "b=[0,2]", "c=x"]
    name, cfg = harness.parse_spec("v=preset:demo,model.variant=vae,model.feature_conv=[0,1]")
    assert name == "v" and cfg.model.variant == "vae" and cfg.model.feature_conv == (0, 1)
    assert cfg.loss.pixel_sigma == 0.3  # the rest comes from the preset
    with pytest.raises(ConfigError, match="no_such_field"):
        harness.parse_spec("v=preset:demo,loss.no_such_field=1")


def test_budgeted_run_logs_its_curve_and_checkpoints_at_the_end(harness):
    _, cfg = harness.parse_spec("v=preset:demo")
    run = harness.budgeted(cfg, 1234)
    assert run.train.steps == 1234 and run.train.checkpoint_every == 1234
    assert run.train.eval_every == 1234 // harness.CURVE_POINTS and run.train.eval_n == 2000
    assert run.model == cfg.model and run.loss == cfg.loss  # only the schedule of logging changes


def test_flops_grow_with_the_networks_a_step_updates(harness):
    def flops(variant: str) -> float:
        spec = "x=preset:demo,model.width=0.125,model.prior=standard,train.batch_size=4"
        return harness.flops_per_step(harness.parse_spec(f"{spec},model.variant={variant}")[1])

    vae, gan, vaegan = flops("vae"), flops("gan"), flops("vaegan")
    assert 0 < vae < vaegan and 0 < gan < vaegan
