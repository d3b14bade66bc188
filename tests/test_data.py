import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vaegan.data import Dataset, load_dataset
from vaegan.data.batches import FLIP_STREAM, Batches, stream_seed
from vaegan.errors import DataError

from helpers import idx_bytes, write_idx_dataset


def test_idx_loader_pads_to_32(idx_dir):
    data = load_dataset("fashion-mnist", str(idx_dir), "train")
    assert data.images.shape == (64, 32, 32, 1) and data.images.dtype == np.uint8
    assert data.labels.shape == (64,) and data.class_names[0] == "T-shirt/top"
    assert (data.images[:, :2] == 0).all() and (data.images[:, :, -2:] == 0).all()
    assert len(load_dataset("fashion-mnist", str(idx_dir), "test")) == 16


def test_raw_idx_files_are_read_too(tmp_path):
    gz = write_idx_dataset(tmp_path / "gz")
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in gz.iterdir():
        (raw / path.name.removesuffix(".gz")).write_bytes(gzip.decompress(path.read_bytes()))
    a = load_dataset("fashion-mnist", str(gz), "train")
    b = load_dataset("fashion-mnist", str(raw), "train")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="data directory not found") as err:
        load_dataset("fashion-mnist", str(tmp_path / "nope"), "train")
    assert str(tmp_path / "nope") in str(err.value)


def test_missing_file(idx_dir):
    (idx_dir / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.*file not found"):
        load_dataset("fashion-mnist", str(idx_dir), "train")


def test_truncated_idx(idx_dir):
    path = idx_dir / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated") as err:
        load_dataset("fashion-mnist", str(idx_dir), "train")
    assert str(path) in str(err.value)


def test_truncated_gzip_stream(idx_dir):
    path = idx_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="cannot read") as err:
        load_dataset("fashion-mnist", str(idx_dir), "train")
    assert str(path) in str(err.value)


def test_corrupt_gzip_stream(idx_dir):
    path = idx_dir / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[200:260] = bytes(60)  # damage the deflate data, keep the header
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="cannot read") as err:
        load_dataset("fashion-mnist", str(idx_dir), "train")
    assert str(path) in str(err.value)


def test_wrong_magic(idx_dir):
    path = idx_dir / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x0D  # float elements
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="wrong magic") as err:
        load_dataset("fashion-mnist", str(idx_dir), "train")
    assert str(path) in str(err.value)


def test_image_label_count_mismatch(idx_dir):
    labels = np.zeros(63, dtype=np.uint8)
    (idx_dir / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(DataError, match="has 64 images but .* has 63 labels"):
        load_dataset("fashion-mnist", str(idx_dir), "train")


def test_unknown_data_set_and_split(idx_dir):
    with pytest.raises(DataError, match="unknown data set 'celebb'"):
        load_dataset("celebb", str(idx_dir))
    with pytest.raises(DataError, match="unknown split 'val'"):
        load_dataset("fashion-mnist", str(idx_dir), "val")


def test_batches_are_a_function_of_the_step():
    images = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2, 1)
    a = Batches(images, 3, seed=0, device=torch.device("cpu"))
    b = Batches(images, 3, seed=0, device=torch.device("cpu"))
    assert a.per_epoch == 3
    seen = torch.cat([a(s) for s in range(3)])
    assert seen.shape == (9, 1, 2, 2) and seen.min() >= -1 and seen.max() <= 1
    assert len({tuple(x.flatten().tolist()) for x in seen}) == 9  # no repeats within an epoch
    assert torch.equal(a(4), b(4)) and not torch.equal(a(1), a(4))  # new order next epoch
    with pytest.raises(DataError, match="batch size 11 exceeds"):
        Batches(images, 11, seed=0, device=torch.device("cpu"))


def test_flip_mirrors_a_seeded_half_of_each_batch():
    images = np.random.default_rng(0).integers(0, 255, (64, 4, 4, 1)).astype(np.uint8)
    cpu = torch.device("cpu")
    plain = Batches(images, 32, seed=3, device=cpu)
    flipped = Batches(images, 32, seed=3, device=cpu, flip=True)
    x, y = plain(5), flipped(5)
    same = (x == y).flatten(1).all(1)
    mirrored = (x.flip(3) == y).flatten(1).all(1)
    assert bool((same | mirrored).all())  # each image is itself or its mirror image
    assert 6 <= int((mirrored & ~same).sum()) <= 26  # about half are mirrored
    assert torch.equal(y, Batches(images, 32, seed=3, device=cpu, flip=True)(5))  # resumable
    assert not torch.equal(flipped(6), flipped(6).flip(3))


REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not REAL_FASHION_MNIST.is_dir() and not os.environ.get("CI"),
    reason="apt-get install dataset-fashion-mnist (CI installs it and always runs this test)",
)
def test_real_fashion_mnist():
    train = load_dataset("fashion-mnist", None, "train")
    test = load_dataset("fashion-mnist", None, "test")
    assert train.images.shape == (60000, 32, 32, 1) and len(test) == 10000
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert train.images[:, 2:30, 2:30].mean() > 50  # real garments, not zeros


def test_annotation_prefers_classes_then_attributes():
    images = np.zeros((2, 4, 4, 1), np.uint8)
    attributes = np.array([[1.0], [0.0]], np.float32)
    smiling = dict(attributes=attributes, attribute_names=("Smiling",), attribute_kind="binary")
    both = Dataset("both", images, labels=np.array([0, 1]), class_names=("a", "b"), **smiling)
    assert both.annotation("unused") == ("class", ("a", "b"))
    faces = Dataset("faces", images, **smiling)
    assert faces.annotation("unused") == ("binary", ("Smiling",))
    with pytest.raises(DataError, match="'plain' has neither .*: X needs one"):
        Dataset("plain", images).annotation("X needs one")


def test_stream_seeds_are_distinct_per_run_index_and_stream():
    seeds = {stream_seed(s, i, k) for s in range(3) for i in range(100) for k in (0, FLIP_STREAM)}
    assert len(seeds) == 3 * 100 * 2
    assert stream_seed(0, 5) == 5  # seed 0's draws are numbered by their index
