"""`vaegan export`: a model folder that loads as the run did, its card, eval.json, ONNX."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch

import vaegan
from vaegan.checkpoint import load_model
from vaegan.cli import main
from vaegan.errors import CheckpointError
from vaegan.export import export_model
from vaegan.training import train

from helpers import tiny_config

EVAL_RECORD = {"data": "fashion-mnist", "split": "test", "n": 16, "seed": 0, "step": 4}
EVAL_FORMATS = {
    "format 1": EVAL_RECORD | {"metrics": {"fd": 3.25, "mse": 0.125}},
    "format 2": {
        "format": 2,
        "evaluations": [
            EVAL_RECORD | {"metrics": {"fd": 3.25, "mse": 0.125}},
            EVAL_RECORD | {"n": 8, "metrics": {"kid": 0.5}, "classes": {"a": 0.1}},
        ],
    },
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, idx_dir_module):
    """Two tiny trained runs, unconditional and conditional, by variant."""
    root = tmp_path_factory.mktemp("export")
    for variant in ("vaegan", "cvaegan"):
        cfg = tiny_config(idx_dir_module, variant)
        train(cfg, root / variant, progress=False, cache_dir=root / "cache")
    return {variant: root / variant for variant in ("vaegan", "cvaegan")}


def samples(model, n=6):
    return model.sample(n, generator=torch.Generator().manual_seed(0))


def test_the_folder_loads_as_the_run(runs, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["export", str(runs["vaegan"]), str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    assert files == {"model.safetensors", "config.json", "model.json", "README.md", "samples.png"}
    assert str(out / "model.safetensors") in capsys.readouterr().out
    record = json.loads((out / "model.json").read_text())
    assert record["step"] == 4 and set(record["sha256"]) == {"model.safetensors"}
    weights = runs["vaegan"] / "checkpoint/model.safetensors"
    assert (out / "model.safetensors").read_bytes() == weights.read_bytes()  # byte for byte
    torch.testing.assert_close(
        samples(vaegan.load(out, "cpu")), samples(vaegan.load(runs["vaegan"], "cpu"))
    )
    assert load_model(out)[1] == load_model(runs["vaegan"])[1]  # the same config
    grids = sorted((runs["vaegan"] / "samples").glob("samples_*.png"))
    assert (out / "samples.png").read_bytes() == grids[-1].read_bytes()


def test_a_changed_weight_file_is_refused(runs, tmp_path):
    out = tmp_path / "model"
    export_model(runs["vaegan"], out)
    data = bytearray((out / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (out / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="differs from the one recorded in model.json"):
        vaegan.load(out, "cpu")


def test_the_model_card(runs, tmp_path):
    yaml = pytest.importorskip("yaml")  # comes with huggingface_hub
    card = (export_model(runs["cvaegan"], tmp_path / "m") / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "vaegan" and meta["license"] == "mit"
    assert {"vaegan", "vae-gan", "image-generation", "cvaegan"} <= set(meta["tags"])
    assert meta["datasets"] == ["zalando-datasets/fashion_mnist"]
    assert body.startswith("\n# cvaegan on fashion-mnist, 32x32x1\n\nConditional VAE/GAN: a VAE")
    for text in ("`cvaegan`", "| z_dim | 8 |", "| steps trained | 4 ", "condition y (class)"):
        assert text in body
    assert 'vaegan.load("m")' in body and "model.sample(16, y)" in body
    assert "![Samples of the model at step 4](samples.png)" in body
    assert "Not evaluated yet" in body and "@inproceedings{larsen2016autoencoding" in body


@pytest.mark.parametrize("fmt", EVAL_FORMATS)
def test_eval_json_of_either_format(runs, tmp_path, capsys, fmt):
    run = shutil.copytree(runs["vaegan"], tmp_path / "run")
    (run / "eval.json").write_text(json.dumps(EVAL_FORMATS[fmt]))
    assert main(["export", str(run), str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "m/eval.json").read_bytes() == (run / "eval.json").read_bytes()
    card = (tmp_path / "m/README.md").read_text()
    assert "| fd | 3.25 | fashion-mnist test, n 16, seed 0, step 4 |" in card
    assert "| mse | 0.125 |" in card and "fd" in printed and "3.25" in printed
    if fmt == "format 2":
        assert "| kid | 0.5 | fashion-mnist test, n 8, seed 0, step 4 |" in card
        assert "| a |" not in card  # details beyond the numbers stay in eval.json


def test_an_occupied_folder_is_refused(runs, tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    assert main(["export", str(runs["vaegan"]), str(out)]) == 0  # an empty folder is taken
    assert main(["export", str(runs["vaegan"]), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: folder exists and is not empty" in err
    assert main(["export", str(tmp_path / "nope"), str(tmp_path / "m")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("variant", ["vaegan", "cvaegan"])
def test_the_onnx_decoder_matches_pytorch(runs, tmp_path, variant):
    ort = pytest.importorskip("onnxruntime")
    out = export_model(runs[variant], tmp_path / "m", onnx=True)
    model = vaegan.load(out, "cpu")
    session = ort.InferenceSession(str(out / "decoder.onnx"))
    k = model.cfg.condition_dim
    for n in (1, 5):  # the batch axis is dynamic
        z = torch.randn(n, model.cfg.z_dim, generator=torch.Generator().manual_seed(n))
        y = torch.eye(k)[torch.arange(n) % k] if k else None
        feeds = {"z": z.numpy()} | ({"y": y.numpy()} if k else {})
        (x,) = session.run(None, feeds)
        assert x.shape == (n, 1, 32, 32)
        np.testing.assert_allclose(x, model.decode(z, y).numpy(), atol=1e-4)
    assert "decoder.onnx" in (out / "README.md").read_text()


def test_onnx_without_its_packages(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    assert main(["export", str(runs["vaegan"]), str(tmp_path / "m"), "--onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "vaegan[onnx]"' in err
    assert not list(tmp_path.iterdir())  # nothing written
