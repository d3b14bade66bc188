"""Conditional VAE/GAN, VAE and GAN (METHOD.md §5.3): y reaches every network, and the commands."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from vaegan.checkpoint import load_model
from vaegan.cli import main
from vaegan.conditions import condition_values, parse_condition, with_condition
from vaegan.config import ModelConfig
from vaegan.data import Dataset
from vaegan.errors import ConfigError, DataError, VaeganError
from vaegan.judge import Evaluator, EvaluatorConfig
from vaegan.metrics.similarity import agreement, attribute_similarity, generate
from vaegan.models import VAEGAN
from vaegan.records import read_evaluations
from vaegan.training import train

from dataset_files import CELEBA_ATTRIBUTES, write_celeba
from helpers import tiny_config

CLASSES = ("T-shirt", "Trouser", "Bag")


def class_model(variant: str = "cvaegan") -> VAEGAN:
    torch.manual_seed(0)
    cfg = ModelConfig(
        variant=variant,
        image_size=16,
        channels=1,
        z_dim=4,
        width=0.125,
        condition=CLASSES,
        condition_kind="class",
    )
    return VAEGAN(cfg).eval()


def test_the_condition_reaches_enc_dec_and_dis():
    model = class_model()
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    z = torch.randn(2, 4)
    a, b = torch.eye(3)[[0, 0]], torch.eye(3)[[1, 2]]
    with torch.no_grad():
        assert not torch.allclose(model.enc(x, a)[0], model.enc(x, b)[0])
        assert not torch.allclose(model.dec(z, a), model.dec(z, b))
        features_a, logit_a = model.dis(x, a)
        features_b, logit_b = model.dis(x, b)
    assert not torch.allclose(features_a, features_b)  # Dis_l, the learned similarity, too
    assert not torch.allclose(logit_a, logit_b)


def test_unconditional_models_keep_their_parameter_names():
    """Checkpoints of unconditional runs load as before: no layer was inserted into them."""
    names = VAEGAN(ModelConfig(image_size=16, channels=1, width=0.125)).state_dict()
    assert names["enc.body.0.weight"].ndim == 4  # the first conv, not a JoinCondition
    assert names["dec.body.0.weight"].ndim == 2  # the FC from z
    assert names["dis.classifier.1.weight"].ndim == 2


def test_conditions_shape_is_checked():
    model = class_model()
    with pytest.raises(VaeganError, match=r"needs a condition: 3 values"):
        model.sample(2)
    with pytest.raises(VaeganError, match=r"shape \(2, 2\) for 2 images; this model takes"):
        model.sample(2, torch.zeros(2, 2))
    with pytest.raises(VaeganError, match="takes no condition"):
        VAEGAN(ModelConfig(image_size=16, channels=1, width=0.125)).sample(2, torch.zeros(2, 3))
    with pytest.raises(VaeganError, match="needs model.condition"):
        VAEGAN(ModelConfig(variant="cgan", image_size=16, channels=1, width=0.125))


def test_condition_values_from_classes_and_attributes():
    images = np.zeros((3, 4, 4, 1), np.uint8)
    classes = Dataset("f", images, labels=np.array([2, 0, 1]), class_names=CLASSES)
    cfg = with_condition(tiny_config("unused", "cvae"), classes).model
    assert (cfg.condition, cfg.condition_kind) == (CLASSES, "class")
    np.testing.assert_array_equal(condition_values(classes, cfg), np.eye(3)[[2, 0, 1]])
    np.testing.assert_array_equal(condition_values(classes, cfg, 2), np.eye(3)[[2, 0]])
    assert condition_values(classes, tiny_config("unused", "vae").model) is None
    attributes = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    faces = Dataset(
        "c",
        images,
        attributes=attributes,
        attribute_names=("Male", "Smiling"),
        attribute_kind="binary",
    )
    with pytest.raises(DataError, match="not the model's class condition"):
        condition_values(faces, cfg)
    with pytest.raises(ConfigError, match="conditioned on 3 class values"):
        with_condition(replace(tiny_config("unused", "cvae"), model=cfg), faces)
    face_cfg = with_condition(tiny_config("unused", "cvae"), faces).model
    np.testing.assert_array_equal(condition_values(faces, face_cfg), attributes)
    np.testing.assert_array_equal(condition_values(faces, face_cfg, 1), attributes[:1])
    with pytest.raises(DataError, match="neither class labels nor attributes"):
        with_condition(tiny_config("unused", "cvae"), Dataset("plain", images))


def test_parse_condition():
    cfg = class_model().cfg
    np.testing.assert_array_equal(parse_condition("Trouser", cfg), [0, 1, 0])
    np.testing.assert_array_equal(parse_condition("0, 0.5, 1", cfg), [0, 0.5, 1])
    np.testing.assert_array_equal(parse_condition("Bag=1", cfg), [0, 0, 1])
    with pytest.raises(ConfigError, match="has 2 values; this model takes 3"):
        parse_condition("1,0", cfg)
    with pytest.raises(ConfigError, match="unknown class 'Shoe'"):
        parse_condition("Shoe=1", cfg)
    with pytest.raises(ConfigError, match="expected a class name"):
        parse_condition("Shoe", cfg)
    with pytest.raises(ConfigError, match="'x' is not a number"):
        parse_condition("Bag=x", cfg)


@pytest.mark.parametrize("variant", ["cvaegan", "cvae", "cgan"])
def test_conditional_variants_train_resume_and_sample(idx_dir, tmp_path, variant):
    run = tmp_path / variant
    train(tiny_config(idx_dir, variant, steps=2), run, progress=False)
    saved = json.loads((run / "config.json").read_text())["model"]
    assert saved["condition_kind"] == "class" and saved["condition"][1] == "Trouser"
    train(tiny_config(idx_dir, variant, steps=3), run, resume=True, progress=False)
    model, cfg = load_model(run)
    assert cfg.model.condition_dim == 10
    shoes = torch.eye(10)[[7, 7]]  # Sneaker
    assert model.sample(2, shoes).shape == (2, 1, 32, 32)
    assert (run / "samples" / "samples_000003.png").is_file()


def test_sample_command_with_conditions(idx_dir, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(idx_dir, "cvaegan", steps=2), run, progress=False)
    out = tmp_path / "s.npy"
    assert main(["sample", str(run), "--n", "3", "--condition", "Sneaker", "--out", str(out)]) == 0
    assert np.load(out).shape == (3, 32, 32, 1)
    # Default: every class in turn, one column each.
    assert main(["sample", str(run), "--n", "20", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] == 10 * 34 + 2
    args = ["sample", str(run), "--n", "4", "--condition", "test", "--out", str(out)]
    assert main(args) == 0
    assert main(["reconstruct", str(run), "--n", "4", "--out", str(tmp_path / "r.npy")]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--condition", "1,0", "--out", str(out)]) == 2
    assert "has 2 values; this model takes 10" in capsys.readouterr().err


def test_unconditional_sample_rejects_a_condition(idx_dir, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(idx_dir, "vae", steps=1), run, progress=False)
    assert main(["sample", str(run), "--condition", "Bag", "--out", str(tmp_path / "s.png")]) == 2
    assert "takes no --condition" in capsys.readouterr().err


def test_attribute_conditioned_training_on_celeba_files(tmp_path, capsys):
    root, _ = write_celeba(tmp_path / "celeba", 16)
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        "celeba",
        "--data-dir",
        str(root),
        "--model",
        "cvae",
        "--image-size",
        "16",
        "--width",
        "0.0625",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--z-dim",
        "4",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main(args) == 0
    _, cfg = load_model(out)
    assert cfg.model.condition == CELEBA_ATTRIBUTES and cfg.model.condition_kind == "binary"
    npy = tmp_path / "s.npy"
    args = ["sample", str(out), "--n", "2", "--condition", "Male=1,Smiling=1", "--out", str(npy)]
    assert main(args) == 0
    assert np.load(npy).shape == (2, 16, 16, 3)
    capsys.readouterr()
    assert main(["sample", str(out), "--condition", "Beard=1", "--out", str(npy)]) == 2
    assert "unknown binary 'Beard'" in capsys.readouterr().err


def test_agreement_against_hand_computed_values():
    got = agreement(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]))
    assert got == pytest.approx({"cosine": (1 + 2 / (2 * 2**0.5)) / 2, "mse": (0 + 2) / 2})
    predicted = np.array([[0.7, 0.2, 0.1], [0.5, 0.1, 0.4]])
    got = agreement(predicted, np.eye(3)[[0, 2]])
    cosines = (0.7 / np.sqrt(0.54), 0.4 / np.sqrt(0.42))
    assert got == pytest.approx(
        {"cosine": np.mean(cosines), "mse": (0.14 + 0.62) / 2, "accuracy": 0.5}
    )


def test_attribute_similarity_scores_generated_and_real_images():
    model = class_model()
    judge_cfg = EvaluatorConfig("fashion-mnist", 16, 1, "classes", CLASSES, width=4)
    torch.manual_seed(1)
    evaluator = Evaluator(judge_cfg).eval()
    real = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 1), dtype=np.uint8)
    conditions = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    result = attribute_similarity(model, evaluator, conditions, real, seeds=(0, 1))
    assert result["real"] == agreement(evaluator.scores(real), conditions)
    first = agreement(evaluator.scores(generate(model, conditions, 0)), conditions)
    second = agreement(evaluator.scores(generate(model, conditions, 1)), conditions)
    generated = result["generated"]
    assert generated["cosine"] == pytest.approx((first["cosine"] + second["cosine"]) / 2)
    assert generated["mse_std"] == pytest.approx(abs(first["mse"] - second["mse"]) / np.sqrt(2))
    assert (generated["seeds"], generated["n"]) == (2, 6)
    other = Evaluator(replace(judge_cfg, names=("a", "b", "c")))
    with pytest.raises(VaeganError, match="the evaluator predicts 3 classes"):
        attribute_similarity(model, other, conditions, real)


@pytest.mark.slow
def test_evaluate_a_conditional_run_and_keep_earlier_metrics(idx_dir, tmp_path, capsys):
    ev, run = tmp_path / "ev", tmp_path / "run"
    data = ["--data-dir", str(idx_dir), "--quiet", "--device", "cpu"]
    assert main(["train-evaluator", "--out", str(ev), "--steps", "5", *data]) == 0
    cfg = tiny_config(idx_dir, "cvaegan", steps=4)
    cfg = replace(cfg, train=replace(cfg.train, eval_every=2, eval_n=8, evaluator=str(ev)))
    train(cfg, run, progress=False)  # domain FD during training samples under test conditions
    assert sum("fd" in line for line in (run / "metrics.jsonl").open()) == 2
    evaluate = ["evaluate", str(run), "--evaluator", str(ev), "--n", "12", *data]
    assert main([*evaluate, "--metrics", "fd,recon"]) == 0
    assert main([*evaluate, "--metrics", "similarity"]) == 0
    out = capsys.readouterr().out
    assert "generated (3 seeds)" in out and "real test images" in out
    (record,) = read_evaluations(run)
    assert {"fd", "mse", "similarity_cosine", "similarity_accuracy_std"} <= set(record["metrics"])
    real = record["similarity"]["real"]
    assert 0 <= real["accuracy"] <= 1 and -1 <= real["cosine"] <= 1
    assert record["similarity"]["generated"]["n"] == 12
    # Another n is another setting: a record of its own, the earlier one kept as it was.
    assert main([*evaluate, "--n", "8", "--metrics", "fd"]) == 0  # the last --n counts
    small, earlier = read_evaluations(run)
    assert set(small["metrics"]) == {"fd", "kd", "precision", "recall"}  # n 8: no kd_std
    assert small["n"] == 8 and earlier == record


def test_similarity_needs_a_conditional_run(idx_dir, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(idx_dir, "vaegan", steps=1), run, progress=False)
    args = ["evaluate", str(run), "--metrics", "similarity", "--evaluator", str(tmp_path)]
    assert main(args) == 2
    assert "scores conditional models" in capsys.readouterr().err
