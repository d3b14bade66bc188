"""Each format trains end to end and is described by `vaegan data info`, from fixtures."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaegan.cli import main
from vaegan.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaegan.training import train

from dataset_files import write_celeba, write_folder, write_lfw, write_svhn
from helpers import write_idx_dataset


def celeba(root: Path) -> Path:
    return write_celeba(root, 16)[0]


def celeba_zip(root: Path) -> Path:
    return write_celeba(root, 16, as_zip=True)[0]


def lfw_tgz(root: Path) -> Path:
    return write_lfw(root, as_tgz=True)[0]


def split_folders(root: Path) -> Path:
    write_folder(root / "train", {"a": 4, "b": 4})
    write_folder(root / "test", {"a": 2, "b": 2}, fmt="JPEG")
    return root


FORMATS = {
    # name: (data set, writer, channels, images per split)
    "celeba": ("celeba", celeba, 3, {"train": 8, "val": 4, "test": 4, "trainval": 12}),
    "celeba-zip": ("celeba", celeba_zip, 3, {"train": 8, "val": 4, "test": 4, "trainval": 12}),
    "lfw": ("lfw", lambda r: write_lfw(r)[0], 3, {"train": 14, "test": 2}),
    "lfw-tgz": ("lfw", lfw_tgz, 3, {"train": 14, "test": 2}),
    "svhn": ("svhn", write_svhn, 3, {"train": 20, "test": 8, "extra": 6}),
    "idx": ("idx", lambda r: write_idx_dataset(r, 24, 8), 1, {"train": 24, "test": 8}),
    "folder": (
        "folder",
        lambda r: write_folder(r, {"a": 10, "b": 10}),
        3,
        {"train": 18, "test": 2, "all": 20},
    ),
    "folder-splits": ("folder", split_folders, 3, {"train": 8, "test": 4}),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_trains_a_few_steps(tmp_path, fmt):
    name, write, channels, _ = FORMATS[fmt]
    root = write(tmp_path / "data")
    cfg = RunConfig(
        model=ModelConfig(image_size=16, channels=channels, z_dim=4, width=0.0625),
        data=DataConfig(name=name, data_dir=str(root), flip=True),
        train=TrainConfig(
            steps=2,
            batch_size=4,
            log_every=1,
            sample_every=2,
            checkpoint_every=2,
            grid_size=4,
            device="cpu",
        ),
    )
    ckpt = train(cfg, tmp_path / "run", progress=False)
    assert (ckpt / "model.safetensors").is_file()
    grid = Image.open(tmp_path / "run" / "samples" / "samples_000002.png")
    assert grid.size == (2 * 18 + 2, 2 * 18 + 2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_data_info_counts_each_split(tmp_path, capsys, fmt):
    name, write, channels, counts = FORMATS[fmt]
    root = write(tmp_path / "data")
    preview = tmp_path / "preview.png"
    args = ["data", "info", name, "--data-dir", str(root), "--preview", str(preview), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for split, count in counts.items():
        assert f"\n{split:10s} {count:8d}\n" in out, out
    size = 32 if name in ("svhn", "idx") else 64
    assert f"image:     {size}x{size}x{channels} uint8" in out
    assert Image.open(preview).size[0] > size


def test_train_cli_on_celeba_with_the_papers_split(tmp_path, capsys):
    root = celeba(tmp_path / "data")
    args = [
        "train",
        "--data",
        "celeba",
        "--data-dir",
        str(root),
        "--split",
        "trainval",
        "--image-size",
        "16",
        "--width",
        "0.0625",
        "--z-dim",
        "4",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(args) == 0
    saved = RunConfig.load(tmp_path / "run" / "config.json")
    assert saved.data.split == "trainval" and saved.model.image_size == 16
    assert saved.model.channels == 3
    out = tmp_path / "r.npy"
    assert main(["reconstruct", str(tmp_path / "run"), "--n", "4", "--out", str(out)]) == 0
    assert np.load(out).shape == (4, 16, 16, 3)


def test_missing_data_dir_names_the_layout(tmp_path, capsys):
    assert main(["data", "info", "celeba", "--quiet"]) == 2
    assert "pass --data-dir DIR, laid out as DIR/img_align_celeba/" in capsys.readouterr().err
    assert main(["data", "info", "svhn", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "nope: data directory not found" in capsys.readouterr().err


def test_download_celeba_prints_what_to_fetch(tmp_path, capsys):
    assert main(["data", "download", "celeba", "--to", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "img_align_celeba" in err and "list_attr_celeba.txt" in err


@pytest.mark.parametrize(
    ("name", "write", "metric"),
    [
        ("celeba", celeba, "mean attribute accuracy"),
        ("lfw", lambda r: write_lfw(r)[0], "mse"),
    ],
)
def test_attribute_evaluators_train_on_celeba_and_lfw(tmp_path, capsys, name, write, metric):
    root = write(tmp_path / "data")
    out = tmp_path / "judge"
    args = [
        "train-evaluator",
        "--data",
        name,
        "--data-dir",
        str(root),
        "--image-size",
        "16",
        "--steps",
        "3",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert (out / "evaluator.safetensors").is_file()
    assert f"test {metric}" in capsys.readouterr().out


def test_svhn_info_without_the_optional_extra_split(tmp_path, capsys):
    root = write_svhn(tmp_path / "svhn", {"train": 20, "test": 8})  # the two usual files
    args = ["data", "info", "svhn", "--data-dir", str(root), "--quiet"]
    assert main([*args, "--preview", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "train            20" in out and "test              8" in out
    assert f"absent:    extra (optional; not in {root})" in out
