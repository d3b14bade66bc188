"""`vaegan finetune`: few-label classifiers on a run's Enc or Dis, on a two-class fixture."""

import gzip
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from vaegan.checkpoint import load_model
from vaegan.cli import main
from vaegan.data import Dataset, load_run_data
from vaegan.errors import DataError, VaeganError
from vaegan.finetune import (
    FEATURES,
    FinetuneConfig,
    balanced_subset,
    build_classifier,
    classification_error,
    finetune,
    train_classifier,
)
from vaegan.images import to_model
from vaegan.models import VAEGAN, evaluating
from vaegan.training import train

from helpers import idx_bytes, tiny_config


def write_halves_dataset(root, n_train=40, n_test=40, seed=0):
    """Two classes that differ clearly: the left (0) or the right (1) half bright, 32x32.

    Written with MNIST's file names, so the run trains on it as fashion-mnist and finetune reads
    it as `idx`, whose classes come from the labels (2 here).
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 2
        images = rng.integers(0, 60, (n, 32, 32)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, :, 16 * label : 16 * label + 16] = 220
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    data = write_halves_dataset(root / "halves")
    runs = {}
    for variant in ("vaegan", "gan"):
        runs[variant] = root / variant
        cfg = tiny_config(data, variant=variant, steps=2)
        # Xavier's larger weights: after 2 steps, BN's running statistics (which the probe's eval
        # mode uses) are still near their start, far too wide for AutoFiller's small activations.
        cfg = replace(cfg, model=replace(cfg.model, init="xavier"))
        train(cfg, runs[variant], progress=False)
    model, cfg = load_model(runs["vaegan"])
    splits = {s: load_run_data(cfg, s, data="idx", data_dir=data) for s in ("train", "test")}
    return {"data": data, "runs": runs, "model": model, **splits}


def flat_state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def same_state(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_probe_learns_a_separable_fixture(setup):
    cfg = FinetuneConfig(labels=8, freeze=True, seeds=1, steps=40, batch_size=8)
    untrained = build_classifier(setup["model"], cfg, n_classes=2, seed=0)
    # The control: before training, this seed's head is wrong on half the test images.
    assert classification_error(untrained, setup["test"]) == pytest.approx(0.5)
    result = finetune(setup["model"], setup["train"], setup["test"], cfg, progress=False)
    assert result["classes"] == 2 and result["test_images"] == 40
    assert result["test_error_mean"] < 0.1


def test_fine_tuning_learns_and_reports_mean_and_std(setup):
    cfg = FinetuneConfig(labels=4, seeds=2, steps=20, batch_size=4)
    result = finetune(setup["model"], setup["train"], setup["test"], cfg, progress=False)
    errors = result["test_errors"]
    assert len(errors) == 2 and result["test_error_mean"] < 0.2
    assert result["test_error_mean"] == pytest.approx(np.mean(errors))
    assert result["test_error_std"] == pytest.approx(np.std(errors, ddof=1))


def test_balanced_subset_per_class_and_by_seed():
    labels = np.repeat(np.arange(3), 20)
    chosen = balanced_subset(labels, 6, 3, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [2, 2, 2]
    assert len(set(chosen)) == 6 and np.all(np.diff(chosen) > 0)
    assert not np.array_equal(chosen, balanced_subset(labels, 6, 3, seed=1))
    assert np.array_equal(chosen, balanced_subset(labels, 6, 3, seed=0))


@pytest.mark.parametrize(
    ("labels", "n", "message"),
    [
        (np.repeat(np.arange(3), 5), 2, "fewer than the 3 classes"),
        (np.repeat(np.arange(3), 5), 7, "multiple of 3"),
        (np.array([0, 0, 0, 1, 2, 2]), 6, "class 1 has 1 training images"),
    ],
)
def test_balanced_subset_errors(labels, n, message):
    with pytest.raises(DataError, match=message):
        balanced_subset(labels, n, 3, seed=0)


def test_pretrained_starts_from_the_run_and_scratch_does_not(setup):
    model = setup["model"]
    run_body = flat_state(model.enc.body)
    pretrained = build_classifier(model, FinetuneConfig(labels=2), 2, seed=0)
    scratch = build_classifier(model, FinetuneConfig(labels=2, from_scratch=True), 2, seed=0)
    assert same_state(run_body, pretrained.body.state_dict())
    conv_and_fc = [key for key, value in run_body.items() if value.ndim >= 2]
    assert len(conv_and_fc) == 4  # 3 convs and the hidden FC layer at 32 px
    for key in conv_and_fc:
        assert not torch.equal(run_body[key], scratch.body.state_dict()[key])
    # Fine-tuning changes the copy, never the loaded run.
    images = torch.from_numpy(setup["train"].images[:4])
    cfg = FinetuneConfig(labels=4, steps=2, batch_size=4)
    train_classifier(pretrained, images, torch.tensor([0, 1, 0, 1]), cfg, seed=0, progress=False)
    assert not same_state(run_body, pretrained.body.state_dict())
    assert same_state(run_body, model.enc.body.state_dict())


def test_freeze_trains_the_head_only(setup):
    cfg = FinetuneConfig(labels=4, freeze=True, steps=3, batch_size=4)
    classifier = build_classifier(setup["model"], cfg, 2, seed=0)
    body, head = flat_state(classifier.body), flat_state(classifier.head)
    images = torch.from_numpy(setup["train"].images[:4])
    train_classifier(classifier, images, torch.tensor([0, 1, 0, 1]), cfg, seed=0, progress=False)
    assert same_state(body, classifier.body.state_dict())  # weights and BN statistics
    assert not same_state(head, classifier.head.state_dict())


def test_dis_features_on_a_gan_run(setup):
    model, _ = load_model(setup["runs"]["gan"])
    cfg = FinetuneConfig(labels=4, features="dis", seeds=1, steps=20, batch_size=4)
    dis_before = flat_state(model.dis)
    result = finetune(model, setup["train"], setup["test"], cfg, progress=False)
    assert result["test_error_mean"] < 0.2
    assert same_state(dis_before, model.dis.state_dict())


def test_dis_body_is_a_copy_of_dis_alone(setup):
    assert FEATURES == ("enc", "dis")
    model, _ = load_model(setup["runs"]["gan"])
    classifier = build_classifier(model, FinetuneConfig(labels=2, features="dis"), 2, seed=0)
    body_params = list(classifier.body.parameters())
    assert sum(p.numel() for p in body_params) == sum(p.numel() for p in model.dis.parameters())
    assert not {id(p) for p in classifier.parameters()} & {id(p) for p in model.parameters()}
    assert same_state(flat_state(model.dis), classifier.body.dis.state_dict())
    # The body's output is the hidden layer that Dis's logit layer reads.
    x = to_model(torch.from_numpy(setup["train"].images[:4]))
    with torch.no_grad(), evaluating(model.dis), evaluating(classifier):
        hidden = classifier.body(x)
        logit = model.dis(x)[1]
    assert hidden.shape == (4, model.cfg.dis_hidden) and bool((hidden >= 0).all())
    assert torch.allclose(model.dis.classifier[-1](hidden).squeeze(1), logit, atol=1e-6)


def test_errors_name_the_fix(setup):
    gan, _ = load_model(setup["runs"]["gan"])
    with pytest.raises(VaeganError, match="'gan' run has no encoder: pass --features dis"):
        build_classifier(gan, FinetuneConfig(labels=2), 2, seed=0)
    conditional = VAEGAN(
        replace(gan.cfg, variant="cgan", condition=("a", "b"), condition_kind="class")
    )
    with pytest.raises(VaeganError, match="'cgan' run is conditional"):
        build_classifier(conditional, FinetuneConfig(labels=2, features="dis"), 2, seed=0)
    unlabelled = Dataset(name="faces", images=setup["train"].images)
    with pytest.raises(DataError, match="'faces' has no class labels"):
        finetune(setup["model"], unlabelled, setup["test"], FinetuneConfig(labels=2))
    with pytest.raises(DataError, match="fewer than the 2 classes"):
        finetune(setup["model"], setup["train"], setup["test"], FinetuneConfig(labels=1))


def test_cli_writes_the_record_and_prints_the_table(setup, tmp_path, capsys):
    run, data = setup["runs"]["vaegan"], setup["data"]
    out = tmp_path / "ft.json"
    base = ["finetune", str(run), "--data", "idx", "--data-dir", str(data), "--labels", "4"]
    base += ["--seeds", "2", "--steps", "3", "--batch-size", "4", "--quiet", "--out", str(out)]
    assert main(base) == 0
    assert main([*base, "--from-scratch"]) == 0
    record = json.loads(out.read_text())
    assert record["run"] == str(run)
    assert sorted(record["results"]) == ["idx/4/enc/pretrained/all", "idx/4/enc/scratch/all"]
    entry = record["results"]["idx/4/enc/scratch/all"]
    assert entry["config"]["from_scratch"] and entry["config"]["seeds"] == 2
    assert len(entry["test_errors"]) == 2 and entry["lr"] == 3e-4
    assert entry["variant"] == "vaegan" and entry["checkpoint_step"] == 2
    table = capsys.readouterr().out
    assert "test error" in table and f"written to {out}" in table
    assert "idx                 4 enc      pretrained all" in table
    assert "idx                 4 enc      scratch    all" in table
    gan = ["finetune", str(setup["runs"]["gan"]), "--data", "idx", "--data-dir", str(data)]
    assert main([*gan, "--labels", "4", "--quiet"]) == 2
    assert "pass --features dis" in capsys.readouterr().err
    assert main([*base[:-2], "--out", str(out)]) == 0  # same run, same file: accumulates
    other = main(
        [*gan, "--labels", "4", "--features", "dis", "--steps", "1", "--quiet", "--out", str(out)]
    )
    assert other == 2 and "holds the results of run" in capsys.readouterr().err


def test_one_seed_prints_no_spread(setup, tmp_path, capsys):
    run, data = setup["runs"]["vaegan"], setup["data"]
    args = ["finetune", str(run), "--data", "idx", "--data-dir", str(data), "--labels", "4"]
    args += ["--steps", "2", "--batch-size", "4", "--quiet", "--out", str(tmp_path / "ft.json")]
    assert main([*args, "--seeds", "1"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("idx"))
    assert "±" not in row  # a standard deviation of one seed means nothing
    assert main([*args, "--seeds", "2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("idx")]
    assert len(rows) == 1 and "±" in rows[0]  # the same setting, now over two seeds
