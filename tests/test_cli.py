"""The commands as a user types them, on a tiny run trained once per module."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vaegan.cli import main
from vaegan.config import RunConfig
from vaegan.training import train

from helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from helpers import write_idx_dataset

    root = tmp_path_factory.mktemp("cli")
    data = write_idx_dataset(root / "data")
    train(tiny_config(data, steps=2), root / "run", progress=False)
    return root / "run"


def test_sample_npy_and_png(run, tmp_path):
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (5, 32, 32, 1) and images.dtype == np.uint8
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    grid = Image.open(tmp_path / "s.png")
    assert grid.size == (2 * 34 + 2, 2 * 34 + 2)  # 2x2 images of 32 px with 2 px borders


def test_reconstruct_npy_and_png(run, tmp_path):
    out = tmp_path / "r.npy"
    assert main(["reconstruct", str(run), "--split", "test", "--n", "6", "--out", str(out)]) == 0
    assert np.load(out).shape == (6, 32, 32, 1)
    assert main(["reconstruct", str(run), "--n", "4", "--out", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size == (4 * 34 + 2, 2 * 34 + 2)  # originals, recons


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolate(run, tmp_path, mode):
    out = tmp_path / "i.png"
    args = ["interpolate", str(run), "--pairs", "2", "--steps", "5", "--mode", mode]
    assert main([*args, "--out", str(out)]) == 0
    assert Image.open(out).size == (5 * 34 + 2, 2 * 34 + 2)


def test_errors_are_one_clear_line(run, tmp_path, capsys):
    assert main(["sample", str(tmp_path / "nope"), "--out", str(tmp_path / "s.png")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["sample", str(run), "--out", str(tmp_path / "s.gif")]) == 2
    assert "unsupported output type '.gif'" in capsys.readouterr().err
    assert main(["reconstruct", str(run), "--n", "99", "--out", str(tmp_path / "r.npy")]) == 2
    assert "99 images requested, but split 'test' has 16" in capsys.readouterr().err


def test_train_resume_rejects_changed_config(run, capsys):
    assert main(["train", "--out", str(run), "--resume", "--width", "2"]) == 2
    assert "drop --width" in capsys.readouterr().err
    args = ["train", "--out", str(run), "--resume", "--batch-size", "3", "--z-dim", "5"]
    assert main(args) == 2
    assert "drop --batch-size --z-dim" in capsys.readouterr().err  # the flags as spelled
    assert main(["train", "--out", str(run), "--resume", "--set", "loss.gamma=2"]) == 2
    assert "--set loss.gamma would redefine it" in capsys.readouterr().err
    config = str(run / "config.json")
    assert main(["train", "--out", str(run), "--resume", "--config", config]) == 2
    assert "drop --config" in capsys.readouterr().err


def test_resume_takes_same_values_and_interval_changes(tmp_path):
    from helpers import write_idx_dataset

    cfg = tiny_config(write_idx_dataset(tmp_path / "data"), steps=2)
    train(cfg, tmp_path / "run", progress=False)
    width = str(cfg.model.width)  # the run's own value: harmless
    args = ["train", "--out", str(tmp_path / "run"), "--resume", "--steps", "3", "--width", width]
    assert main([*args, "--set", "train.log_every=1", "--quiet"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["log_every"] == 1 and saved["train"]["steps"] == 3


def test_train_with_config_file_and_flags(tmp_path):
    from helpers import write_idx_dataset

    data = write_idx_dataset(tmp_path / "data")
    config = tmp_path / "c.json"
    tiny_config(data, steps=1).save(config)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--out",
                str(out),
                "--model",
                "vae",
                "--steps",
                "2",
                "--seed",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["variant"] == "vae" and saved["train"]["steps"] == 2
    assert saved["train"]["seed"] == 3 and saved["model"]["width"] == 0.0625


def test_presets_config_files_and_set_layer_in_order(tmp_path, capsys):
    from vaegan.cli import build_config, parser
    from vaegan.config import AUTHORS_CODE_COMMIT, RunConfig

    def config(*args):
        return build_config(parser().parse_args(["train", "--out", str(tmp_path / "r"), *args]))

    paper = config("--preset", "paper")
    assert paper == config("--steps", "37500")  # the defaults are the code's, but for length
    assert (paper.model.image_size, paper.model.channels) == (32, 1)  # Fashion-MNIST's shape
    assert paper.optim.weight_decay == 2e-5 / 64 and paper.loss.layout == "code"
    assert paper.train.steps == 37_500 and AUTHORS_CODE_COMMIT == "1906387"
    assert config("--preset", "paper", "--data", "celeba").model.image_size == 64
    partial = tmp_path / "p.json"
    partial.write_text(json.dumps({"loss": {"r1": 2.0}, "model": {"width": 0.5}}))
    sets = ["--set", "loss.r1=3", "--set", "model.ema_decay=0.99", "--set", "model.variant=vae"]
    cfg = config("--preset", "demo", "--config", str(partial), *sets, "--steps", "7")
    assert cfg.loss.r1 == 3.0 and cfg.model.width == 0.5 and cfg.model.ema_decay == 0.99
    assert cfg.model.variant == "vae" and cfg.train.steps == 7
    assert cfg.loss.gamma == RunConfig.from_dict(preset_dict("demo")).loss.gamma
    assert paper.train.channels_last  # the default layout; the flag turns it off or on
    assert not config("--no-channels-last").train.channels_last
    off = tmp_path / "nchw.json"
    off.write_text(json.dumps({"train": {"channels_last": False}}))
    assert not config("--config", str(off)).train.channels_last  # absent flag: the file holds
    assert config("--config", str(off), "--channels-last").train.channels_last
    for bad, message in [
        (["--set", "loss.nope=1"], "unknown key 'loss.nope'"),
        (["--set", "loss.r1"], "expected SECTION.FIELD=VALUE"),
        (["--set", "loss.r1=-1"], "loss.r1 must be >= 0"),
        (["--preset", "paper", "--set", "model.ema_decay=2"], "ema_decay must lie in (0, 1)"),
    ]:
        assert main(["train", "--out", str(tmp_path / "r"), *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def preset_dict(name):
    from vaegan.presets import preset

    return preset(name)


def test_config_show_prints_the_resolved_config(capsys):
    assert main(["config", "show", "--preset", "demo", "--set", "loss.feature_sigma=3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["loss"]["feature_sigma"] == 3.0 and shown["train"]["steps"] == 3000
    assert json.loads(json.dumps(RunConfig.from_dict(shown).to_dict())) == shown  # all fields


def test_the_names_the_cli_shows_agree_with_the_library():
    from typing import get_args

    from vaegan import names
    from vaegan.data import DATASETS
    from vaegan.data.download import SOURCES
    from vaegan.evaluate import METRICS
    from vaegan.finetune import Features, FinetuneConfig

    assert tuple(sorted(DATASETS)) == names.DATASET_NAMES
    assert tuple(sorted(SOURCES)) == names.DOWNLOADABLE
    assert get_args(Features) == names.FEATURES and METRICS is names.METRICS
    defaults = FinetuneConfig(labels=1)
    assert (defaults.seeds, defaults.steps, defaults.batch_size) == (
        names.FINETUNE_SEEDS,
        names.FINETUNE_STEPS,
        names.FINETUNE_BATCH,
    )


def test_help_and_argument_errors_answer_without_torch():
    script = (
        "import sys\n"
        "from vaegan.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['train', '--steps', 'x'], ['nope']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as end:\n"
        "        assert end.code in (0, 2), (argv, end.code)\n"
        "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_serve_without_its_extra_names_it(run, monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "vaegan.explorer.app", raising=False)
    monkeypatch.setitem(sys.modules, "starlette", None)  # as if `vaegan[serve]` were not installed
    monkeypatch.setitem(sys.modules, "starlette.applications", None)
    assert main(["serve", str(run)]) == 2
    err = capsys.readouterr().err
    assert "needs starlette" in err and "pip install 'vaegan[serve]'" in err
    assert len(err.strip().splitlines()) == 1


def test_version_and_log_level(capsys):
    from vaegan import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"vaegan {__version__}"
    with pytest.raises(SystemExit):
        main(["--log-level", "loud", "config", "show"])
    assert "invalid choice: 'loud'" in capsys.readouterr().err


def test_skip_bad_images_where_the_error_suggests_it(run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40), 60 * i, np.uint8)).save(folder / f"ok{i}.png")
    (folder / "bad.png").write_bytes(b"not an image at all")
    args = ["reconstruct", str(run), "--data", "folder", "--data-dir", str(folder)]
    args += ["--split", "all", "--n", "2", "--out", str(tmp_path / "r.png")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "bad.png: cannot decode" in err and "--skip-bad-images" in err
    assert "object at 0x" not in err  # no Python internals in the message
    assert main([*args, "--skip-bad-images"]) == 0 and (tmp_path / "r.png").is_file()


def test_resume_where_there_is_no_run(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "nope"), "--resume"]) == 2
    assert "no run to resume there (no config.json); drop --resume" in capsys.readouterr().err
