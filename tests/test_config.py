import json

import pytest

from vaegan.config import LossConfig, ModelConfig, RunConfig
from vaegan.errors import ConfigError


def test_json_round_trip(tmp_path):
    cfg = RunConfig(model=ModelConfig(variant="gan", width=0.5), loss=LossConfig(margin=None))
    cfg.save(tmp_path / "c.json")
    assert RunConfig.load(tmp_path / "c.json") == cfg


def test_partial_file_keeps_defaults(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"model": {"z_dim": 16}}))
    cfg = RunConfig.load(tmp_path / "c.json")
    assert cfg.model.z_dim == 16 and cfg.model.width == 1.0 and cfg.train == RunConfig().train


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"model": {"zdim": 16}}, "unknown key 'model.zdim'"),
        ({"trainer": {}}, "unknown key 'trainer'"),
        ({"model": {"z_dim": "16"}}, "'model.z_dim' must be of type int, got str"),
        ({"model": {"z_dim": 16.5}}, "'model.z_dim' must be of type int"),
        ({"train": {"steps": True}}, "'train.steps' must be of type int, got bool"),
        ({"model": {"variant": "vqvae"}}, "'model.variant' must be one of"),
        ({"loss": {"margin": "0.3"}}, "'loss.margin' must be of type float"),
        ({"model": {"image_size": 48}}, "power of two"),
        ({"optim": {"adam_betas": [0.5]}}, "'optim.adam_betas' must be a list of 2"),
        ({"model": 3}, "'model' must be an object"),
        ({"optim": {"lr": -1.0}}, "optim.lr must be positive"),
        ({"optim": {"rmsprop_alpha": 1.0}}, "optim.rmsprop_alpha must lie in (0, 1)"),
        ({"loss": {"margin": -0.1}}, "loss.margin must be >= 0"),
        ({"loss": {"gamma": -1.0}}, "loss.gamma must be >= 0"),
        ({"train": {"grid_size": 0}}, "train.grid_size must lie in [1, 1,024], got 0"),
        ({"train": {"batch_size": 10**9}}, "train.batch_size must lie in [1, 65,536]"),
        ({"model": {"image_size": 2048}}, "power of two from 16 to 1024"),
        ({"model": {"width": 100.0}}, "model.width must lie in (0, 16]"),
    ],
)
def test_bad_config_names_file_and_problem(tmp_path, raw, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as err:
        RunConfig.load(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_not_json_and_missing_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{model: }")
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="not found"):
        RunConfig.load(tmp_path / "missing.json")


def test_float_fields_accept_integers(tmp_path):
    cfg = RunConfig.from_dict({"model": {"width": 1}, "loss": {"margin": None}})
    assert cfg.model.width == 1.0 and isinstance(cfg.model.width, float)
    assert cfg.loss.margin is None


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(tmp_path, constant):
    path = tmp_path / "bad.json"
    path.write_text(f'{{"optim": {{"lr": {constant}}}}}')
    with pytest.raises(ConfigError, match=f"{constant} is not a valid value") as err:
        RunConfig.load(path)
    assert str(path) in str(err.value)
