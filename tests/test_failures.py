"""Failures that used to end in a traceback: each is one line naming the path, exit code 2, and
whatever was written before stays intact."""

import errno
import json
import os
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import vaegan.checkpoint
import vaegan.evaluate
import vaegan.files
import vaegan.images
from vaegan.cli import main
from vaegan.errors import CheckpointError, ConfigError
from vaegan.images import to_uint8
from vaegan.training import train

from helpers import redigest, tiny_config


@pytest.fixture
def trained(tmp_path, idx_dir):
    """A run trained for one step, and its config file."""
    cfg = tiny_config(idx_dir, steps=1)
    config = tmp_path / "config.json"
    cfg.save(config)
    train(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run", config


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("vaegan: error: "), err
    for word in words:
        assert word in err, err
    return err


def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint(trained, monkeypatch, capsys):
    run, _ = trained

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vaegan.checkpoint, "save_file", disk_full)
    assert main(["train", "--resume", "--out", str(run), "--steps", "2", "--quiet"]) == 2
    one_line_error(
        capsys,
        f"{run / 'checkpoint'}: cannot write the checkpoint",
        "No space left on device",
        "the previous checkpoint is intact",
    )
    assert json.loads((run / "checkpoint/trainer.json").read_text())["step"] == 1
    assert not list(run.glob(".checkpoint.*"))


def test_a_full_disk_for_a_json_file_names_it(tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vaegan.files.os, "fsync", disk_full)
    with pytest.raises(vaegan.files.VaeganError, match="x.json: cannot write \\(No space left"):
        vaegan.files.atomic_write_text(tmp_path / "x.json", "{}")
    assert not list(tmp_path.iterdir())  # no temporary file left


def test_evaluate_checks_it_can_write_before_computing(trained, monkeypatch, capsys):
    run, _ = trained

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(vaegan.files.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(vaegan.evaluate, "load_run_data", lambda *a, **k: pytest.fail("worked"))
    assert main(["evaluate", str(run), "--metrics", "recon", "--quiet"]) == 2
    one_line_error(capsys, f"{run}: cannot write there (Read-only file system)")


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_out_that_is_or_lies_under_a_file(trained, tmp_path, capsys, where):
    _, config = trained
    (tmp_path / "taken").write_text("not a folder")
    out = tmp_path / "taken" if where == "a file" else tmp_path / "taken/run"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    one_line_error(capsys, f"{out}: cannot hold a run there")
    assert (tmp_path / "taken").read_text() == "not a folder"


def test_a_negative_step_in_trainer_json(trained):
    run, _ = trained
    trainer = json.loads((run / "checkpoint/trainer.json").read_text())
    (run / "checkpoint/trainer.json").write_text(json.dumps(trainer | {"step": -5}))
    cfg = vaegan.RunConfig.load(run / "config.json")
    with pytest.raises(CheckpointError, match="'step' must be an integer >= 0, got -5"):
        train(replace(cfg, train=replace(cfg.train, steps=2)), run, resume=True, progress=False)


def test_optimizer_state_of_the_wrong_shape_fails_on_load(trained):
    run, _ = trained
    file = run / "checkpoint/trainer.safetensors"
    tensors = load_file(file)
    key = next(k for k in tensors if k.startswith("dec.") and tensors[k].ndim > 1)
    tensors[key] = torch.zeros(2, 2)
    save_file(tensors, file)
    redigest(file.parent)
    cfg = vaegan.RunConfig.load(run / "config.json")
    with pytest.raises(CheckpointError, match=f"tensor '{key}' has shape \\(2, 2\\)"):
        train(replace(cfg, train=replace(cfg.train, steps=2)), run, resume=True, progress=False)


@pytest.mark.parametrize(
    ("n", "message"),
    [("0", "got 0"), ("-3", "got -3"), ("100000000", "[1, 100,000], got 100,000,000")],
)
def test_sample_counts_are_bounded(trained, tmp_path, capsys, n, message):
    run, _ = trained
    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(run), "--n", n, "--out", str(tmp_path / "s.npy")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists()


def test_a_huge_z_dim_is_refused_naming_the_limit(idx_dir):
    cfg = tiny_config(idx_dir)
    with pytest.raises(ConfigError, match="model.z_dim must lie in \\[1, 4096\\], got 2000000000"):
        replace(cfg.model, z_dim=2_000_000_000)


def test_sampling_more_than_one_decode_batch(trained, tmp_path):
    run, _ = trained
    out = tmp_path / "s.npy"
    assert main(["sample", str(run), "--n", "1005", "--out", str(out)]) == 0
    images = np.load(out)
    assert images.shape == (1005, 32, 32, 1)
    model = vaegan.load(run)  # the same draws decoded in one batch
    at_once = to_uint8(model.sample(1005, generator=torch.Generator().manual_seed(0)))
    assert np.abs(images.astype(int) - at_once.astype(int)).max() <= 1


def test_a_link_loop_in_an_image_folder_is_not_followed(tmp_path):
    from vaegan.data.folder import image_files

    root = tmp_path / "pets"
    (root / "cats").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "cats/a.png")
    (root / "cats/loop").symlink_to(root)  # pets/cats/loop -> pets
    os.symlink("self.png", root / "self.png")  # a link to itself
    assert image_files(root) == [root / "cats/a.png"]


def test_an_image_of_huge_dimensions_is_refused_before_decoding(tmp_path):
    from vaegan.data.decode import ImageSource, decode_one

    path = tmp_path / "huge.png"
    Image.new("L", (4097, 4097)).save(path)  # 16.8 million pixels, under Pillow's bomb limit
    with pytest.raises(vaegan.files.VaeganError, match="huge.png: 4097x4097 pixels, more than"):
        decode_one(ImageSource(str(path), path.read_bytes), "RGB")


def test_an_idx_gz_that_inflates_past_its_header_is_refused_after_what_it_declared(tmp_path):
    import gzip

    from vaegan.data.idx import read_idx

    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(path, "wb") as f:  # declares 2 images, then 64 MiB of zeros
        f.write(header + bytes(2 * 28 * 28))
        for _ in range(64):
            f.write(bytes(2**20))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    with pytest.raises(vaegan.files.VaeganError, match="longer than its header says"):
        read_idx(path)
    claims = tmp_path / "claims-idx3-ubyte"  # 18 bytes that declare 200 MB
    claims.write_bytes(
        bytes([0, 0, 8, 3]) + (10_000).to_bytes(4, "big") + (141).to_bytes(4, "big") * 2
    )
    with pytest.raises(vaegan.files.VaeganError, match="truncated: header .* the file has 16"):
        read_idx(claims)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20  # neither the 64 MiB inside the .gz nor the 200 MB claimed
    declared = tmp_path / "big-idx3-ubyte"
    declared.write_bytes(bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 3)
    with pytest.raises(vaegan.files.VaeganError, match="more than 17,179,869,184"):
        read_idx(declared)


def test_file_system_errors_reach_the_user_as_one_line(trained, tmp_path, monkeypatch, capsys):
    run, _ = trained
    out = tmp_path / "read-only/s.png"

    def refuse(images, path, *args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(vaegan.images, "save_images", refuse)
    assert main(["sample", str(run), "--n", "4", "--out", str(out)]) == 2
    one_line_error(capsys, f"{out}: Read-only file system")
