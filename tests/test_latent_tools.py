"""Latent tools: attribute vectors, edits, edit success, interpolation GIFs and the random walk."""

import gzip
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from vaegan.attributes import (
    REAL_THRESHOLD,
    AttributeVectors,
    Membership,
    compute_attribute_vectors,
    membership,
)
from vaegan.checkpoint import save_checkpoint
from vaegan.cli import main
from vaegan.config import ModelConfig
from vaegan.data import FASHION_MNIST_CLASSES, Dataset
from vaegan.errors import CheckpointError, DataError, VaeganError
from vaegan.evaluate import edit_success, format_table
from vaegan.files import file_sha256
from vaegan.images import to_model, to_uint8
from vaegan.judge import Evaluator, EvaluatorConfig, save_evaluator
from vaegan.latent import edit_grid, random_walk, require_unconditional
from vaegan.models import VAEGAN
from vaegan.records import read_evaluations

from helpers import tiny_config, write_idx_dataset


def make_run(root, data_dir, variant="vaegan", seed=0, **model):
    """An untrained tiny checkpoint (32x32x1, z of 8): enough for every latent tool."""
    cfg = tiny_config(data_dir, variant)
    cfg = replace(cfg, model=replace(cfg.model, **model))
    torch.manual_seed(seed)
    root.mkdir()
    save_checkpoint(root, VAEGAN(cfg.model), {}, cfg, step=0)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent")
    data = write_idx_dataset(root / "data", n_train=64, n_test=16)
    return SimpleNamespace(
        data=data,
        main=make_run(root / "main", data),
        other=make_run(root / "other", data, seed=1),
        small_z=make_run(root / "small_z", data, z_dim=4),
        gan=make_run(root / "gan", data, "gan"),
    )


def indexed_images(n: int) -> np.ndarray:
    """Image i holds the value i in its first pixel, so that a fake encoder can look its z up."""
    images = np.zeros((n, 16, 16, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return images


def lookup_encoder(table: torch.Tensor):
    """encode(x) = table[i] for the image i of `indexed_images`: a latent code chosen by hand."""
    return lambda x: table[((x[:, 0, 0, 0] + 1) * 127.5).round().long()]


def hand_encoded(table):
    """A tiny model whose encoder returns `table`'s rows (its z size is the table's width)."""
    table = torch.as_tensor(table, dtype=torch.float32)
    model = VAEGAN(replace(tiny_config(".").model, z_dim=table.shape[1]))
    model.encode = lookup_encoder(table)
    return model


# ---- attribute vectors: v_a = mean z with a - mean z without a ----


def test_class_vectors_one_against_the_rest(runs):
    labels = np.array([0, 0, 1, 2, 2, 2])
    data = Dataset("toy", indexed_images(6), labels=labels, class_names=("a", "b", "c"))
    z = 3.0 * np.eye(3)[labels]  # class k lies along e_k, at length 3
    model = hand_encoded(z)
    vectors = compute_attribute_vectors(model, data, runs.main, split="train")
    # v_a = 3 e_a minus the mean of the others: e.g. a's rest is one b and three c's.
    expected = [[3, -0.75, -2.25], [-1.2, 3, -1.8], [-2, -1, 3]]
    assert torch.allclose(vectors.vectors, torch.tensor(expected, dtype=torch.float32))
    assert vectors.kind == "class" and vectors.names == ("a", "b", "c")
    assert vectors.count_with == (2, 1, 3) and vectors.count_without == (4, 5, 3)


def test_binary_and_real_attribute_vectors(runs):
    attributes = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], np.float32)
    binary = Dataset(
        "toy",
        indexed_images(4),
        attributes=attributes,
        attribute_names=("Bangs", "Smiling"),
        attribute_kind="binary",
    )
    z = np.array([[2.0, 5.0], [2.0, 1.0], [0.0, 1.0], [0.0, 5.0]])  # dim 0 says Bangs
    vectors = compute_attribute_vectors(hand_encoded(z), binary, runs.main, split="t")
    assert torch.allclose(vectors.vectors, torch.tensor([[2.0, 0.0], [0.0, -4.0]]))
    # LFW's scores are classifier margins: "with" means above 0.
    scores = np.array([[-1.5], [0.3], [2.0], [-0.2]], np.float32)
    real = Dataset(
        "toy",
        indexed_images(4),
        attributes=scores,
        attribute_names=("Male",),
        attribute_kind="real",
    )
    z = scores.astype(np.float64)  # z is the score itself
    vectors = compute_attribute_vectors(hand_encoded(z), real, runs.main, split="t")
    assert vectors.threshold == REAL_THRESHOLD == 0.0 and vectors.count_with == (2,)
    assert torch.allclose(vectors.vectors, torch.tensor([[(0.3 + 2.0) / 2 - (-1.5 - 0.2) / 2]]))


def test_vector_errors_are_clear(runs):
    labels = np.array([0, 0, 1, 1])
    data = Dataset("toy", indexed_images(4), labels=labels, class_names=("a", "b", "c"))
    model = hand_encoded(np.eye(4, 8))
    with pytest.raises(DataError, match=r"unknown attribute 'd' in toy/train \(known: a, b, c\)"):
        compute_attribute_vectors(model, data, runs.main, split="train", attrs=("a", "d"))
    with pytest.raises(DataError, match="'c': no images with it among the first 4 of toy/train"):
        compute_attribute_vectors(model, data, runs.main, split="train")
    with pytest.raises(DataError, match="'a': no images without it among the first 2"):
        compute_attribute_vectors(model, data, runs.main, split="train", attrs=("a",), n=2)
    with pytest.raises(DataError, match="neither class labels nor attributes"):
        membership(Dataset("bare", indexed_images(2)))


def test_vectors_round_trip_and_refuse_other_models(runs, tmp_path):
    data = Dataset("toy", indexed_images(4), labels=np.array([0, 1, 0, 1]), class_names=("a", "b"))
    model = hand_encoded(np.random.default_rng(0).normal(size=(4, 8)))
    vectors = compute_attribute_vectors(model, data, runs.main, split="train")
    loaded = AttributeVectors.load(vectors.save(tmp_path / "v.safetensors"))
    assert torch.equal(loaded.vectors, vectors.vectors) and loaded.record() == vectors.record()
    loaded.check_model(runs.main, model)  # the same weights: accepted
    names, v = loaded.select(("b",))
    assert names == ("b",) and torch.equal(v, vectors.vectors[1:])
    with pytest.raises(DataError, match="unknown attribute 'c' in .*v.safetensors"):
        loaded.select(("c",))
    with pytest.raises(CheckpointError, match="computed with another model"):
        loaded.check_model(runs.other, model)
    small = VAEGAN(replace(model.cfg, z_dim=4))
    with pytest.raises(CheckpointError, match="vectors of z size 8, but the model in .* z of 4"):
        loaded.check_model(runs.small_z, small)


def test_conditional_and_encoderless_models_are_refused(runs, tmp_path, capsys):
    condition = {"condition": ("a", "b"), "condition_kind": "class"}
    cvaegan = SimpleNamespace(cfg=ModelConfig(variant="cvaegan", **condition))
    with pytest.raises(VaeganError, match="unconditional models; a 'cvaegan' model needs"):
        require_unconditional(cvaegan, "the latent walk")
    args = ["--data-dir", str(runs.data), "--device", "cpu", "--quiet"]
    out = str(tmp_path / "v.safetensors")
    assert main(["attributes", "compute", str(runs.gan), "--out", out, *args]) == 2
    assert "a 'gan' model has no encoder" in capsys.readouterr().err


# ---- edits: the paper's figure, and edit success judged by the evaluator ----


def test_edit_grid_columns(runs):
    model = VAEGAN(tiny_config(".").model).eval()
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 1), dtype=np.uint8)
    vectors = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    grid = edit_grid(model, images, vectors, strength=1.5)
    assert grid.shape == (3, 2 + 2, 32, 32, 1)  # input, reconstruction, one per vector
    assert np.array_equal(grid[:, 0], images)
    z = model.encode(to_model(torch.from_numpy(images)))
    expected = to_uint8(model.decode(z + 1.5 * vectors[0])).astype(int)
    assert np.abs(grid[:, 2].astype(int) - expected).max() <= 1  # batch-size float noise only
    recon = to_uint8(model.decode(z)).astype(int)
    assert np.abs(grid[:, 1].astype(int) - recon).max() <= 1


class PixelModel:
    """z = a hand-chosen table (by image index); Dec paints z[0] over the whole image."""

    def __init__(self, table):
        self.cfg = SimpleNamespace(variant="vaegan", z_dim=2, image_size=4, channels=1)
        self.encode = lookup_encoder(torch.tensor(table, dtype=torch.float32))

    def decode(self, z):
        return z[:, :1, None, None].clamp(-1, 1).expand(-1, 1, 4, 4)


class BrightnessJudge:
    """A stub evaluator: class 1 ("bright") when the first pixel is above 191 (x > 0.5)."""

    cfg = SimpleNamespace(target="classes", names=("dark", "bright", "other"))

    def predict(self, images):
        return (images[:, 0, 0, 0] > 191).astype(np.int64)


def test_edit_success_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    t = [-0.8, -0.2, 0.4, 0.9, 0.7, -0.6]  # z[0] of each image; Dec shows it as brightness
    model = PixelModel([[v, 0.0] for v in t])
    images = np.zeros((6, 16, 16, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(6)
    truth = Membership("class", ("dark", "bright", "other"), labels[:, None] == np.arange(3), None)
    vectors = torch.tensor([[0.5, 0.0]])
    for strength, edited in ((1.0, 1 / 4), (2.0, 2 / 4)):
        # Images without "bright": t = -0.8, -0.2, 0.4, -0.6; + S * 0.5 above 0.5 counts.
        result = edit_success(
            model, BrightnessJudge(), images, truth, ("bright",), vectors, strength
        )
        # The two bright images (t = 0.9, 0.7) reconstruct bright: "with a" is 1.
        expected = {"n": 4, "edited": edited, "reconstructed": 0.0, "reconstructed_with": 1.0}
        assert result == {"bright": expected}


def test_edit_and_evaluate_commands(runs, tmp_path, capsys):
    data = ["--data-dir", str(runs.data), "--device", "cpu"]
    vectors = str(tmp_path / "v.safetensors")
    assert (
        main(
            [
                "attributes",
                "compute",
                str(runs.main),
                "--attrs",
                "Trouser,Bag",
                "--out",
                vectors,
                "--quiet",
                *data,
            ]
        )
        == 0
    )
    assert "Trouser" in capsys.readouterr().out
    out = tmp_path / "edit.png"
    args = ["edit", str(runs.main), "--vectors", vectors, "--n", "3", "--out", str(out), *data]
    assert main(args) == 0
    assert Image.open(out).size == (4 * 34 + 2, 3 * 34 + 2)  # 3 rows of 2 + 2 images
    assert "columns: input, reconstruction, then + 1.5 x: Trouser, Bag" in capsys.readouterr().out

    # An untrained judge: the command's plumbing is under test here, not the judge.
    judge = EvaluatorConfig("fashion-mnist", 32, 1, "classes", FASHION_MNIST_CLASSES)
    save_evaluator(Evaluator(judge), 0.0, tmp_path / "ev")
    evaluate = [
        "evaluate",
        str(runs.main),
        "--metrics",
        "edit",
        "--vectors",
        vectors,
        "--evaluator",
        str(tmp_path / "ev"),
        "--n",
        "16",
        "--quiet",
        *data,
    ]
    assert main(evaluate) == 0
    (record,) = read_evaluations(runs.main)
    assert set(record["edit"]["attributes"]) == {"Trouser", "Bag"}
    assert record["edit"]["vectors_sha256"] == file_sha256(tmp_path / "v.safetensors")
    # n: the evaluated test images not of the class, counted from the label file itself.
    raw = gzip.decompress((runs.data / "t10k-labels-idx1-ubyte.gz").read_bytes())
    labels = np.frombuffer(raw[8:], np.uint8)[:16]  # an IDX label file: 8 header bytes
    for name, r in record["edit"]["attributes"].items():
        assert r["n"] == int((labels != FASHION_MNIST_CLASSES.index(name)).sum())
        assert 0 <= r["edited"] <= 1 and 0 <= r["reconstructed"] <= 1
    assert "Trouser" in format_table(record) and "edit_base" in record["metrics"]
    # Another strength gives other edit numbers: a record of its own, the first one kept.
    capsys.readouterr()
    assert main([*evaluate, "--strength", "3"]) == 0
    assert "edit success at strength 3 " in capsys.readouterr().out
    strengths = [r["edit"]["strength"] for r in read_evaluations(runs.main)]
    assert strengths == [record["edit"]["strength"], 3.0]


def test_edit_refuses_vectors_of_another_model(runs, tmp_path, capsys):
    data = ["--data-dir", str(runs.data), "--device", "cpu"]
    vectors = str(tmp_path / "v.safetensors")
    compute = ["attributes", "compute", str(runs.main), "--attrs", "Trouser", "--out", vectors]
    assert main([*compute, "--quiet", *data]) == 0
    png = str(tmp_path / "e.png")
    for run, message in (
        (runs.other, "computed with another model"),
        (runs.small_z, "vectors of z size 8, but the model"),
    ):
        assert main(["edit", str(run), "--vectors", vectors, "--out", png, *data]) == 2
        assert message in capsys.readouterr().err
    args = ["edit", str(runs.main), "--vectors", vectors, "--attrs", "Hat", "--out", png, *data]
    assert main(args) == 2
    assert "unknown attribute 'Hat'" in capsys.readouterr().err
    assert main(["evaluate", str(runs.main), "--metrics", "edit", *data]) == 2
    assert "needs --vectors FILE" in capsys.readouterr().err


# ---- paths: interpolation GIF and the random walk ----


def test_interpolate_gif_goes_there_and_back(runs, tmp_path):
    gif = tmp_path / "i.gif"
    args = ["interpolate", str(runs.main), "--pairs", "3", "--steps", "4", "--gif", str(gif)]
    assert main([*args, "--out", str(tmp_path / "i.png"), "--data-dir", str(runs.data)]) == 0
    with Image.open(gif) as animation:
        assert animation.n_frames == 2 * 4 - 2  # forward 4, back 2 (ends not repeated)
        assert animation.size == (3 * 34 + 2, 34 + 2)  # the three pairs side by side


def test_walk_is_seeded_and_keeps_the_prior_norm():
    def walk(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return random_walk(torch.randn(64, 512, generator=g), 60, generator=g, **kw)

    path = walk(0)
    assert path.shape == (60, 64, 512) and torch.equal(path, walk(0))
    assert not torch.equal(path, walk(1))
    # Waypoints are prior draws in a tenth of the coordinates: E|z|^2 / z stays 1 at every
    # waypoint and dips to 1 - 0.1 / 2 mid-leg (straight lines), instead of growing.
    square = path.square().sum(-1).mean(-1) / 512  # (frames,)
    assert torch.allclose(square[9::10], torch.ones(6), atol=0.03)
    assert torch.allclose(square[4::10], torch.full((6,), 0.95), atol=0.03)
    # Each leg is a straight line in equal steps, and moves about a tenth of the coordinates.
    steps = path[1:10] - path[:9]
    assert torch.allclose(steps, steps[:1].expand_as(steps), atol=1e-5)
    moved = (path[9] != path[0]).float().mean()
    assert 0.07 < moved < 0.13


def test_walk_command_writes_gif_and_still(runs, tmp_path):
    gif, png = tmp_path / "w.gif", tmp_path / "w.png"
    args = ["walk", str(runs.main), "--n", "4", "--frames", "6", "--leg", "3", "--change", "1"]
    assert main([*args, "--out", str(gif)]) == 0
    with Image.open(gif) as animation:
        assert animation.n_frames == 6 and animation.size == (2 * 34 + 2, 2 * 34 + 2)
    assert main([*args, "--columns", "3", "--out", str(png)]) == 0
    assert Image.open(png).size == (3 * 34 + 2, 4 * 34 + 2)  # a row per walker
