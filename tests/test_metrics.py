"""Evaluation: feature-set distances, reconstruction metrics, the evaluator, the command."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vaegan.cli import main
from vaegan.data import load_dataset
from vaegan.errors import CheckpointError, VaeganError
from vaegan.images import to_model
from vaegan.judge import load_evaluator, train_evaluator
from vaegan.metrics import distribution_distances
from vaegan.metrics.coverage import precision_recall
from vaegan.metrics.recon import pixel_metrics
from vaegan.records import read_evaluations
from vaegan.training import train

from helpers import tiny_config, write_idx_dataset


def gaussian_features(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g, dtype=torch.float64)


def test_fd_is_zero_for_a_set_against_itself_and_grows_with_noise():
    real = gaussian_features(400, 0)
    noise = gaussian_features(400, 1)
    fds = [distribution_distances(real, real + s * noise)["fd"] for s in (0.0, 0.2, 0.5, 1.0)]
    assert abs(fds[0]) < 1e-8
    assert fds == sorted(fds) and fds[-1] > 1.0


def test_kid_is_near_zero_for_one_distribution_and_grows_with_noise():
    real, other = gaussian_features(400, 0), gaussian_features(400, 2)
    noise = gaussian_features(400, 1)
    kids = [
        distribution_distances(real, other + s * noise, kid_subset_size=200)["kid"]
        for s in (0.0, 0.5, 1.0, 2.0)
    ]
    assert abs(kids[0]) < 0.01
    assert kids == sorted(kids) and kids[-1] > 0.1


def test_kid_std_only_where_kid_had_more_than_one_subset():
    real, fake = gaussian_features(300, 0), gaussian_features(300, 1)
    one = distribution_distances(real, fake, kid_subset_size=300)  # every subset: all of both
    assert "kid_std" not in one and math.isfinite(one["kid"])
    several = distribution_distances(real, fake, kid_subset_size=100, kid_subsets=10)
    assert several["kid_std"] > 0
    # Unequal sets: the larger one's subsets differ, so the spread means something.
    assert "kid_std" in distribution_distances(real, fake[:200], kid_subset_size=300)


def test_the_domain_names_leave_out_a_missing_kid_std():
    from vaegan.metrics.quality import domain_names

    assert domain_names({"fd": 1.0, "kid": 0.5}) == {"fd": 1.0, "kd": 0.5}
    assert domain_names({"kid": 0.5, "kid_std": 0.1})["kd_std"] == 0.1


def test_fd_matches_the_closed_form_for_shifted_gaussians():
    real = gaussian_features(2000, 0)
    shift = torch.zeros(8, dtype=torch.float64)
    shift[0] = 3.0
    # same covariance: FD = |mu1 - mu2|^2
    assert distribution_distances(real, real + shift)["fd"] == pytest.approx(9.0, rel=1e-6)


def test_precision_and_recall_by_hand():
    """1-d points: the real manifold is the union of balls reaching each point's k-th neighbour."""
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])  # k = 1: every radius 1 -> covers [-1, 4]
    fake = torch.tensor([[0.5], [3.9], [10.0], [11.0]])  # 2 of 4 inside; radii 3.4, 3.4, 1, 1
    result = precision_recall(real, fake, k=1)
    assert result["precision"] == 0.5
    # real points within a fake ball: 0.5 +- 3.4 holds 0..3, so all four
    assert result["recall"] == 1.0
    narrow = precision_recall(real, torch.tensor([[0.0], [0.1], [0.2], [0.3]]), k=1)
    assert narrow["precision"] == 1.0 and narrow["recall"] == 0.25  # mode dropping shows
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(real, fake, k=4)


def test_precision_and_recall_separate_blur_from_dropped_modes():
    real = gaussian_features(2000, 0)
    assert precision_recall(real, gaussian_features(2000, 1))["precision"] > 0.9
    half = gaussian_features(4000, 2)
    half = half[half[:, 0] > 0][:2000]  # samples from half the data only: recall falls
    pr = precision_recall(real, half)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.75
    spread = gaussian_features(2000, 3) * 3  # samples far off the data: precision falls
    assert precision_recall(real, spread)["precision"] < 0.3


def test_pixel_metrics_by_hand():
    x = torch.zeros(2, 1, 16, 16)
    y = torch.full((2, 1, 16, 16), 0.1)
    m = pixel_metrics(x, y)
    assert m["mse"] == pytest.approx(0.01)
    assert m["psnr"] == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    # constant images: SSIM's luminance term alone, (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    c1 = (0.01 * 1.0) ** 2
    assert m["ssim"] == pytest.approx(c1 / (0.01 + c1), rel=1e-3)
    same = pixel_metrics(y, y)
    assert same["mse"] == 0 and math.isinf(same["psnr"]) and same["ssim"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    return write_idx_dataset(root / "data", n_train=256, n_test=64)


@pytest.mark.slow
def test_evaluator_learns_a_separable_fixture(fixture_data, tmp_path):
    train_set = load_dataset("fashion-mnist", str(fixture_data), "train")
    test_set = load_dataset("fashion-mnist", str(fixture_data), "test")
    _, accuracy = train_evaluator(
        train_set, test_set, tmp_path / "ev", steps=60, batch_size=32, progress=False
    )
    assert accuracy > 0.9  # one bright square per class: chance is 0.1
    loaded, info = load_evaluator(tmp_path / "ev")
    assert info["test_score"] == accuracy and info["test_metric"] == "accuracy"
    assert (loaded.predict(test_set.images) == test_set.labels).mean() == accuracy


def attribute_fixture(n: int, seed: int):
    """Images with a bright square in one of four places; binary attributes say which half it is
    in, a real-valued one is its brightness."""
    from vaegan.data import Dataset

    rng = np.random.default_rng(seed)
    where = rng.integers(0, 4, n)
    brightness = rng.uniform(100, 255, n)
    images = rng.integers(0, 30, (n, 16, 16, 1)).astype(np.uint8)
    for i, (w, b) in enumerate(zip(where, brightness, strict=True)):
        r, c = divmod(int(w), 2)
        images[i, 2 + 8 * r : 6 + 8 * r, 2 + 8 * c : 6 + 8 * c] = int(b)
    binary = np.stack([where // 2, where % 2], axis=1).astype(np.float32)  # bottom, right
    real = ((brightness - 175) / 40)[:, None].astype(np.float32)

    def dataset(attributes, names, kind):
        return Dataset(
            "fixture", images, attributes=attributes, attribute_names=names, attribute_kind=kind
        )

    return dataset(binary, ("Bottom", "Right"), "binary"), dataset(real, ("Bright",), "real")


@pytest.mark.slow
def test_evaluator_learns_binary_and_real_attributes(tmp_path):
    train_binary, train_real = attribute_fixture(512, 0)
    test_binary, test_real = attribute_fixture(128, 1)
    kw = {"steps": 150, "batch_size": 32, "progress": False}
    model, accuracy = train_evaluator(train_binary, test_binary, tmp_path / "b", **kw)
    assert model.cfg.target == "binary" and accuracy > 0.9  # chance: 0.5
    assert model.predict(test_binary.images).shape == (128, 2)
    model, mse = train_evaluator(train_real, test_real, tmp_path / "r", **kw)
    baseline = float(np.var(test_real.attributes))  # predicting the mean
    assert model.cfg.target == "real" and mse < 0.5 * baseline
    loaded, info = load_evaluator(tmp_path / "r")
    assert info["test_metric"] == "mse" and loaded.cfg.names == ("Bright",)


def test_missing_evaluator_names_the_command(tmp_path):
    with pytest.raises(CheckpointError, match="vaegan train-evaluator"):
        load_evaluator(tmp_path)


def test_evaluate_command_writes_eval_json(fixture_data, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(fixture_data, steps=2), run, progress=False)
    ev = tmp_path / "ev"
    args = ["--data-dir", str(fixture_data), "--quiet", "--device", "cpu"]
    assert main(["train-evaluator", "--out", str(ev), "--steps", "5", *args]) == 0
    cache = ["--cache-dir", str(tmp_path / "cache")]
    code = main(["evaluate", str(run), "--evaluator", str(ev), "--n", "40", *cache, *args])
    assert code == 0, capsys.readouterr().err
    (record,) = read_evaluations(run)
    # n = 40 is below KID's subset size: one subset, so no kd_std.
    assert set(record["metrics"]) == {"fd", "kd", "precision", "recall", "mse", "psnr", "ssim"}
    assert record["n"] == 40 and record["split"] == "test" and record["step"] == 2
    assert len(record["domain_features"]["sha256"]) == 64
    assert all(np.isfinite(v) for v in record["metrics"].values())
    out = capsys.readouterr().out
    assert "fd" in out and "kd_std" not in out
    evaluate = ["evaluate", str(run), "--evaluator", str(ev), "--metrics", "recon", *cache, *args]
    assert main([*evaluate, "--n", "40"]) == 0  # the same setting: merged into its record
    (merged,) = read_evaluations(run)
    assert merged["metrics"] == record["metrics"] and "domain_features" in merged
    assert main([*evaluate, "--n", "20"]) == 0  # another setting: a record of its own
    assert [(r["n"], len(r["metrics"])) for r in read_evaluations(run)] == [(20, 3), (40, 7)]
    assert "(20 images of fashion-mnist/test, step 2)" in capsys.readouterr().out


@pytest.mark.slow
def test_class_shares_of_samples(fixture_data, tmp_path):
    from vaegan.evaluate import class_shares

    ev, _ = train_evaluator(
        load_dataset("fashion-mnist", str(fixture_data), "train"),
        load_dataset("fashion-mnist", str(fixture_data), "test"),
        tmp_path / "ev",
        steps=60,
        batch_size=32,
        progress=False,
    )

    class OneClass:
        """A model whose every sample is a test image of class 3."""

        device = torch.device("cpu")

        def __init__(self):
            test = load_dataset("fashion-mnist", str(fixture_data), "test")
            self.image = to_model(torch.from_numpy(test.images[test.labels == 3][:1]))

        def sample(self, n, generator=None):
            return self.image.expand(n, -1, -1, -1)

    shares = class_shares(OneClass(), ev, n=700, seed=0)
    assert list(shares) == list(ev.cfg.names)
    assert shares[ev.cfg.names[3]] == 1.0 and sum(shares.values()) == pytest.approx(1.0)


def test_evaluate_rejects_bad_requests(fixture_data, tmp_path):
    from vaegan.evaluate import evaluate_run

    run = tmp_path / "run"
    train(tiny_config(fixture_data, "gan", steps=1), run, progress=False)
    with pytest.raises(VaeganError, match="unknown metric 'is'"):
        evaluate_run(run, evaluator_dir=tmp_path, metrics=("is",))
    with pytest.raises(VaeganError, match="has no encoder"):
        evaluate_run(run, evaluator_dir=tmp_path, metrics=("recon",), n=8)
    with pytest.raises(VaeganError, match="--n 999 exceeds"):
        evaluate_run(run, evaluator_dir=tmp_path, metrics=("fd",), n=999)


def test_compare_lists_differences_and_metrics(fixture_data, tmp_path, capsys):
    for name, variant in (("a", "vaegan"), ("b", "vae"), ("c", "vae")):
        train(tiny_config(fixture_data, variant, steps=1), tmp_path / name, progress=False)
    setting = {"data": "fashion-mnist", "split": "test", "seed": 0, "step": 1}
    records = [
        setting | {"n": 40, "metrics": {"fd": 1.5}},
        setting | {"n": 20, "metrics": {"fd": 2.5, "edit": 0.5}, "edit": {"strength": 1.5}},
    ]
    evaluations = {"format": 2, "evaluations": records}
    (tmp_path / "a" / "eval.json").write_text(json.dumps(evaluations))
    (tmp_path / "c" / "eval.json").write_text(json.dumps(setting | {"n": 8, "metrics": {}}))
    runs = [str(tmp_path / name) for name in "abc"]
    assert main(["compare", *runs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| run | model.variant | step | split | n | seed | strength | fd | edit |"
    assert lines[2].endswith("| vaegan | 1 | test | 40 | 0 |  | 1.5 |  |")
    assert lines[3].endswith("| vaegan | 1 | test | 20 | 0 | 1.5 | 2.5 | 0.5 |")
    assert lines[4].endswith("| vae |  |  |  |  |  |  |  |")  # b: not evaluated yet
    assert lines[5].endswith("| vae | 1 | test | 8 | 0 |  |  |  |")  # c: eval.json format 1
    assert main(["compare", runs[1], "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["run", str(tmp_path / "b")]
    assert main(["compare", str(tmp_path / "a"), str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_eval_every_logs_sample_quality_during_training(fixture_data, tmp_path):
    from dataclasses import replace

    train_set = load_dataset("fashion-mnist", str(fixture_data), "train")
    test_set = load_dataset("fashion-mnist", str(fixture_data), "test")
    train_evaluator(train_set, test_set, tmp_path / "ev", steps=5, batch_size=16, progress=False)
    cfg = tiny_config(fixture_data, steps=4)
    cfg = replace(
        cfg, train=replace(cfg.train, eval_every=2, eval_n=16, evaluator=str(tmp_path / "ev"))
    )
    train(cfg, tmp_path / "run", progress=False)
    lines = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").open()]
    scored = [line for line in lines if "fd" in line]
    assert [line["step"] for line in scored] == [2, 4]
    assert all(np.isfinite(line["fd"]) and "kd" in line for line in scored)
    assert not any("kd_std" in line for line in scored)  # eval_n 16: one KID subset


@pytest.mark.slow
def test_evaluate_inception_fid_and_kid_on_a_handful_of_images(fixture_data, tmp_path):
    from vaegan.evaluate import evaluate_run

    run = tmp_path / "run"
    train(tiny_config(fixture_data, steps=1), run, progress=False)
    record = evaluate_run(run, evaluator_dir=tmp_path, metrics=("fid", "kid"), n=6, progress=False)
    assert set(record["metrics"]) == {"fid", "kid"}  # n = 6: one KID subset, no kid_std
    assert record["metrics"]["fid"] > 0 and len(record["inception_features"]["sha256"]) == 64


def test_feature_cache_hits_misses_and_rebuilds(tmp_path):
    from vaegan.metrics.cache import cached_features

    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    calls = []

    def compute():
        calls.append(1)
        return torch.full((2, 3), float(len(calls)))

    first = cached_features(tmp_path, "ext-a", images, compute)
    again = cached_features(tmp_path, "ext-a", images, compute)
    assert len(calls) == 1 and torch.equal(first, again)
    cached_features(tmp_path, "ext-b", images, compute)  # another extractor: a miss
    cached_features(tmp_path, "ext-a", images[::-1].copy(), compute)  # other images: a miss
    assert len(calls) == 3
    (file,) = [
        f for f in (tmp_path / "features").iterdir() if torch.equal(load_file(f)["features"], first)
    ]
    file.write_bytes(file.read_bytes()[:20])  # truncated: recomputed, not trusted
    rebuilt = cached_features(tmp_path, "ext-a", images, compute)
    assert len(calls) == 4 and rebuilt[0, 0] == 4.0
    assert cached_features(None, "ext-a", images, compute)[0, 0] == 5.0  # no cache dir
