"""Every supported layout, built from fixtures in the exact official formats (dataset_files)."""

import gzip
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vaegan.data import LoadOptions, load_dataset
from vaegan.data.transform import resample
from vaegan.errors import DataError

from dataset_files import (
    CELEBA_ATTRIBUTES,
    LFW_ATTRIBUTES,
    LFW_PEOPLE,
    encode,
    write_celeba,
    write_folder,
    write_lfw,
    write_svhn,
)
from helpers import idx_bytes


def rgb(size: int = 16, **kwargs) -> LoadOptions:
    return LoadOptions(image_size=size, channels=3, **kwargs)


# ---- CelebA ---------------------------------------------------------------------------------


@pytest.mark.parametrize("as_zip", [False, True])
def test_celeba_splits_and_attributes(tmp_path, as_zip):
    root, written = write_celeba(tmp_path / "celeba", 12, as_zip=as_zip)
    counts = {s: len(load_dataset("celeba", root, s, rgb())) for s in ("train", "val", "test")}
    assert counts == {"train": 6, "val": 3, "test": 3}
    trainval = load_dataset("celeba", root, "trainval", rgb())
    assert len(trainval) == 9 and trainval.images.shape == (9, 16, 16, 3)
    test = load_dataset("celeba", root, "test", rgb())
    assert test.attribute_names == tuple(CELEBA_ATTRIBUTES) and test.attribute_kind == "binary"
    np.testing.assert_array_equal(test.attributes, written[[3, 7, 11]] > 0)  # i % 4 == 3


def test_celeba_crop_is_the_papers_148_at_40_15(tmp_path):
    root, _ = write_celeba(tmp_path / "celeba", 4)
    image = np.zeros((218, 178, 3), np.uint8)
    image[40:188, 15:163] = 255  # exactly the crop
    (root / "img_align_celeba" / "000001.jpg").write_bytes(encode(image))
    options = LoadOptions(image_size=148, channels=3, resize=False)
    first = load_dataset("celeba", root, "train", options).images[0]
    assert first.shape == (148, 148, 3)
    assert first.min() > 200  # no black border left inside the crop
    full = load_dataset("celeba", root, "train", rgb(148, crop="center")).images[0]
    assert full[:5].max() < 60  # a centre crop starts above row 40, in the black part


def test_celeba_bad_inputs_name_file_and_line(tmp_path):
    root, _ = write_celeba(tmp_path / "celeba", 8)
    attributes = root / "list_attr_celeba.txt"
    good = attributes.read_text()
    attributes.write_text("9" + good[1:])
    with pytest.raises(DataError, match=r"list_attr_celeba.txt: line 1 says 9 images.*8 rows"):
        load_dataset("celeba", root, "train", rgb())
    lines = good.splitlines()
    lines[4] = lines[4].rsplit(" ", 1)[0]  # 39 values
    attributes.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"list_attr_celeba.txt, line 5: 39 attribute values"):
        load_dataset("celeba", root, "train", rgb())
    attributes.write_text(good)
    partition = root / "list_eval_partition.txt"
    partition.write_text(partition.read_text() + "000099.jpg 0\n")
    with pytest.raises(DataError, match=r"list_eval_partition.txt, line 9: names 000099.jpg"):
        load_dataset("celeba", root, "train", rgb())
    partition.unlink()
    with pytest.raises(DataError, match="list_eval_partition.txt: file not found"):
        load_dataset("celeba", root, "train", rgb())


def test_corrupt_jpeg_is_named_and_can_be_skipped(tmp_path, caplog):
    root, written = write_celeba(tmp_path / "celeba", 8)
    bad = root / "img_align_celeba" / "000002.jpg"
    bad.write_bytes(bad.read_bytes()[:600])  # truncated
    with pytest.raises(DataError, match=r"000002.jpg: cannot decode.*--skip-bad-images"):
        load_dataset("celeba", root, "train", rgb())
    data = load_dataset("celeba", root, "train", rgb(skip_bad_images=True))
    assert len(data) == 3  # train: 1, 2, 5, 6 without 2
    np.testing.assert_array_equal(data.attributes, written[[0, 4, 5]] > 0)  # still aligned
    assert "000002.jpg" in caplog.text and "000002.jpg" in data.notes[0]


def test_celeba_image_of_the_wrong_size(tmp_path):
    root, _ = write_celeba(tmp_path / "celeba", 4, as_zip=True)
    archive = root / "img_align_celeba.zip"
    with zipfile.ZipFile(archive) as old:
        members = {name: old.read(name) for name in old.namelist()}
    members["img_align_celeba/000001.jpg"] = encode(np.zeros((100, 80, 3), np.uint8))
    with zipfile.ZipFile(archive, "w") as new:
        for name, blob in members.items():
            new.writestr(name, blob)
    with pytest.raises(DataError, match=r"zip:img_align_celeba/000001.jpg: 100x80 image.*218x178"):
        load_dataset("celeba", root, "train", rgb())


# ---- LFW ------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_tgz", [False, True])
def test_lfw_people_disjoint_split_with_attributes(tmp_path, as_tgz):
    root, rows = write_lfw(tmp_path / "lfw", as_tgz=as_tgz, folder="lfw-deepfunneled")
    train, test = (load_dataset("lfw", root, s, rgb()) for s in ("train", "test"))
    assert len(train) + len(test) == len(rows) and len(test) >= 0.1 * len(rows)
    assert train.attribute_names == LFW_ATTRIBUTES and train.attribute_kind == "real"
    # Each row's scores are those of its own image: the set of rows survives the split intact.
    every = np.concatenate([train.attributes, test.attributes])
    expected = np.stack(list(rows.values())).astype(np.float32)
    assert sorted(map(tuple, every)) == sorted(map(tuple, expected))
    # No person on both sides: a person's scores appear only in one split.
    people_of = {tuple(v): p for (p, _), v in rows.items()}
    train_people = {people_of[tuple(v.astype(np.float64).round(5))] for v in train.attributes}
    test_people = {people_of[tuple(v.astype(np.float64).round(5))] for v in test.attributes}
    assert train_people and test_people and not train_people & test_people


def test_lfw_split_depends_on_the_seed_only(tmp_path):
    root, _ = write_lfw(tmp_path / "lfw")
    a = load_dataset("lfw", root, "test", rgb())
    b = load_dataset("lfw", root, "test", rgb())
    np.testing.assert_array_equal(a.attributes, b.attributes)
    others = [load_dataset("lfw", root, "test", rgb(split_seed=s)).attributes for s in (1, 2, 3)]
    assert any(o.shape != a.attributes.shape or not np.array_equal(o, a.attributes) for o in others)


def test_lfw_images_without_rows_are_reported_and_skipped(tmp_path, caplog):
    root, rows = write_lfw(tmp_path / "lfw", without_row=(("Bill_Gates", 2),))
    total = sum(len(load_dataset("lfw", root, s, rgb())) for s in ("train", "test"))
    assert total == sum(LFW_PEOPLE.values()) - 1
    assert "Bill_Gates_0002.jpg" in caplog.text


def test_lfw_bad_attribute_file(tmp_path):
    root, _ = write_lfw(tmp_path / "lfw")
    attributes = root / "lfw_attributes.txt"
    lines = attributes.read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0]
    attributes.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"lfw_attributes.txt, line 4: 72 attribute values"):
        load_dataset("lfw", root, "train", rgb())
    attributes.write_text("\n".join([lines[0]] + lines[2:]))  # header line missing
    with pytest.raises(DataError, match=r"lfw_attributes.txt, line 2: a data row before"):
        load_dataset("lfw", root, "train", rgb())


def test_truncated_lfw_archive(tmp_path):
    root, _ = write_lfw(tmp_path / "lfw", as_tgz=True)
    archive = root / "lfw.tgz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=r"lfw.tgz: .*(truncated|not a readable)"):
        load_dataset("lfw", root, "train", rgb())


# ---- SVHN -----------------------------------------------------------------------------------


def test_svhn_mat_files(tmp_path):
    from scipy.io import loadmat

    root = write_svhn(tmp_path / "svhn")
    test = load_dataset("svhn", root, "test", LoadOptions(image_size=32, channels=3))
    mat = loadmat(root / "test_32x32.mat")
    np.testing.assert_array_equal(test.images, mat["X"].transpose(3, 0, 1, 2))
    np.testing.assert_array_equal(test.labels, mat["y"][:, 0] % 10)  # label 10 is the digit 0
    assert len(load_dataset("svhn", root, "extra", rgb())) == 6


def test_svhn_bad_mat_files(tmp_path):
    from scipy.io import savemat

    root = tmp_path / "svhn"
    root.mkdir()
    path = root / "train_32x32.mat"
    savemat(path, {"X": np.zeros((32, 32, 3, 4), np.uint8)})
    with pytest.raises(DataError, match=r"train_32x32.mat: has no variable 'y'"):
        load_dataset("svhn", root, "train", rgb())
    savemat(path, {"X": np.zeros((32, 32, 4), np.uint8), "y": np.ones((4, 1))})
    with pytest.raises(DataError, match=r"train_32x32.mat: X must be uint8 \(32, 32, 3, N\)"):
        load_dataset("svhn", root, "train", rgb())
    savemat(path, {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((5, 1))})
    with pytest.raises(DataError, match=r"train_32x32.mat: y must be \(4, 1\)"):
        load_dataset("svhn", root, "train", rgb())
    path.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="train_32x32.mat: not a readable MATLAB file"):
        load_dataset("svhn", root, "train", rgb())
    with pytest.raises(DataError, match="test_32x32.mat: file not found"):
        load_dataset("svhn", root, "test", rgb())


# ---- IDX and image folders ------------------------------------------------------------------


def test_any_idx_pair(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 10), ("test", 4)):
        images = rng.integers(0, 255, (n, 20, 20)).astype(np.uint8)
        labels = (np.arange(n) % 3).astype(np.uint8)
        gz = tmp_path / f"emnist-letters-{prefix}-images-idx3-ubyte.gz"
        gz.write_bytes(gzip.compress(idx_bytes(images)))
        (tmp_path / f"emnist-letters-{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    data = load_dataset("idx", tmp_path, "test", LoadOptions(image_size=20, channels=1))
    assert data.images.shape == (4, 20, 20, 1) and data.class_names == ("0", "1", "2")
    (tmp_path / "kmnist-train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match=r"2 files .*train-images-idx3-ubyte.*expected exactly one"):
        load_dataset("idx", tmp_path, "train", LoadOptions(image_size=20, channels=1))


def test_folder_with_class_subfolders(tmp_path):
    root = write_folder(tmp_path / "pets", {"cat": 10, "dog": 10}, sizes=((40, 30), (30, 50)))
    train, test = (load_dataset("folder", root, s, rgb()) for s in ("train", "test"))
    assert len(train) + len(test) == 20 and len(test) == 2
    assert train.class_names == ("cat", "dog") and set(train.labels) == {0, 1}
    everything = load_dataset("folder", root, "all", rgb())
    assert len(everything) == 20 and everything.images.shape[1:] == (16, 16, 3)


def test_folder_of_mixed_sizes_needs_resizing(tmp_path):
    root = write_folder(tmp_path / "mixed", sizes=((32, 32), (24, 32)))
    mixed = r"mixed sizes \(after cropping\): .*img_000.png is 32x32, .*is 24x32"
    with pytest.raises(DataError, match=mixed):
        load_dataset("folder", root, "all", rgb(32, crop="none", resize=False))
    flat = load_dataset("folder", root, "all", rgb(32))
    assert flat.labels is None and flat.images.shape == (10, 32, 32, 3)


def test_folder_with_train_and_test_folders(tmp_path):
    write_folder(tmp_path / "d" / "train", {"a": 3, "b": 3})
    write_folder(tmp_path / "d" / "test", {"a": 2, "b": 1}, fmt="JPEG")
    test = load_dataset("folder", tmp_path / "d", "test", rgb())
    np.testing.assert_array_equal(test.labels, [0, 0, 1])


def test_grey_and_colour_conversions(tmp_path):
    root = write_svhn(tmp_path / "svhn")
    grey = load_dataset("svhn", root, "test", LoadOptions(image_size=32, channels=1))
    colour = load_dataset("svhn", root, "test", LoadOptions(image_size=32, channels=3))
    luma = colour.images.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert grey.images.shape == (8, 32, 32, 1)
    assert np.abs(grey.images[..., 0] - luma).max() <= 0.51


def test_resampling_is_anti_aliased():
    constant = np.full((2, 148, 148, 3), 77, np.uint8)
    assert (resample(constant, 64) == 77).all()
    rows, cols = np.indices((148, 148))
    checkerboard = (((rows + cols) % 2) * 255).astype(np.uint8)[None, ..., None]
    small = resample(checkerboard, 64).astype(np.float64)
    # Point-sampling would alias the finest pattern into stripes of full contrast.
    assert abs(small.mean() - 127.5) < 3 and small.std() < 12


# ---- the cache ------------------------------------------------------------------------------


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "datasets").iterdir()) if (cache / "datasets").exists() else []


def test_cache_is_reused_then_rebuilt_when_inputs_change(tmp_path, monkeypatch):
    root = write_svhn(tmp_path / "svhn")
    cache = tmp_path / "cache"
    first = load_dataset("svhn", root, "train", rgb(), cache_dir=cache)
    assert isinstance(first.images, np.memmap) and len(entries(cache)) == 1

    def no_build(*args):
        raise AssertionError("the cached data set was built again")

    monkeypatch.setattr("vaegan.data.svhn.read_svhn_mat", no_build)
    again = load_dataset("svhn", root, "train", rgb(), cache_dir=cache)
    np.testing.assert_array_equal(again.images, first.images)
    assert again.fingerprint == first.fingerprint
    monkeypatch.undo()
    write_svhn(root, {"train": 20}, seed=1)  # new content: a stale entry must not be used
    os.utime(root / "train_32x32.mat", ns=(1, 1))
    changed = load_dataset("svhn", root, "train", rgb(), cache_dir=cache)
    assert not np.array_equal(changed.images, first.images) and len(entries(cache)) == 2


def test_corrupt_cache_entry_is_rebuilt(tmp_path, caplog):
    root = write_svhn(tmp_path / "svhn")
    cache = tmp_path / "cache"
    first = np.array(load_dataset("svhn", root, "test", rgb(), cache_dir=cache).images)
    (images,) = [e / "images.npy" for e in entries(cache)]
    blob = bytearray(images.read_bytes())
    blob[-10] ^= 0xFF
    images.write_bytes(bytes(blob))
    rebuilt = load_dataset("svhn", root, "test", rgb(), cache_dir=cache)
    np.testing.assert_array_equal(rebuilt.images, first)
    assert "corrupt cache entry" in caplog.text


def test_failed_build_leaves_nothing_in_the_cache(tmp_path):
    root, _ = write_celeba(tmp_path / "celeba", 8)
    bad = root / "img_align_celeba" / "000005.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="000005.jpg"):
        load_dataset("celeba", root, "train", rgb(), cache_dir=cache)
    assert entries(cache) == []


def test_options_are_part_of_the_key(tmp_path):
    root = write_svhn(tmp_path / "svhn")
    cache = tmp_path / "cache"
    small = load_dataset("svhn", root, "test", rgb(16), cache_dir=cache)
    large = load_dataset("svhn", root, "test", rgb(32), cache_dir=cache)
    assert small.images.shape[1] == 16 and large.images.shape[1] == 32


# ---- review: alignment, archives, small folders, duplicates --------------------------------


def disc_is_bright(images: np.ndarray) -> np.ndarray:
    """The fixtures draw a bright disc for a positive "Male" and a dark one otherwise."""
    h, w = images.shape[1:3]
    centre = images[:, h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2].astype(float)
    return centre.mean(axis=(1, 2, 3)) > 130


@pytest.mark.parametrize("as_zip", [False, True])
def test_celeba_images_carry_their_own_attributes(tmp_path, as_zip):
    root, _ = write_celeba(tmp_path / "celeba", 16, as_zip=as_zip)
    male = CELEBA_ATTRIBUTES.index("Male")
    for split in ("train", "val", "test"):
        data = load_dataset("celeba", root, split, rgb())
        np.testing.assert_array_equal(disc_is_bright(data.images), data.attributes[:, male] > 0)


@pytest.mark.parametrize("as_tgz", [False, True])
def test_lfw_images_carry_their_own_scores(tmp_path, as_tgz):
    root, _ = write_lfw(tmp_path / "lfw", as_tgz=as_tgz, without_row=(("Abel_Pacheco", 3),))
    for split in ("train", "test"):
        data = load_dataset("lfw", root, split, rgb())
        np.testing.assert_array_equal(disc_is_bright(data.images), data.attributes[:, 0] > 0)


def test_broken_celeba_zip(tmp_path):
    root, written = write_celeba(tmp_path / "celeba", 8, as_zip=True)
    archive = root / "img_align_celeba.zip"
    blob = archive.read_bytes()
    archive.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"img_align_celeba.zip: not a readable zip archive"):
        load_dataset("celeba", root, "train", rgb())
    # One member's bytes damaged: its CRC fails when read; the rest of the archive is fine.
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        info = z.getinfo("img_align_celeba/000002.jpg")
    damaged = bytearray(blob)
    start = info.header_offset + 30 + len(info.filename) + 200  # inside its data
    damaged[start : start + 20] = bytes(20)
    archive.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match=r"zip:img_align_celeba/000002.jpg: cannot read it"):
        load_dataset("celeba", root, "train", rgb())
    data = load_dataset("celeba", root, "train", rgb(skip_bad_images=True))
    np.testing.assert_array_equal(data.attributes, written[[0, 4, 5]] > 0)


def test_duplicate_annotation_rows(tmp_path):
    root, _ = write_lfw(tmp_path / "lfw")
    attributes = root / "lfw_attributes.txt"
    lines = attributes.read_text().splitlines()
    attributes.write_text("\n".join(lines + [lines[4]]) + "\n")
    with pytest.raises(
        DataError, match=r"line 19: a second row for Abel Pacheco 2 \(the first is line 5\)"
    ):
        load_dataset("lfw", root, "train", rgb())
    root, _ = write_celeba(tmp_path / "celeba", 4)
    attributes = root / "list_attr_celeba.txt"
    lines = attributes.read_text().splitlines()
    attributes.write_text("\n".join(lines + [lines[3]]).replace("4\n", "5\n", 1) + "\n")
    with pytest.raises(DataError, match=r"list_attr_celeba.txt, line 7: a second row for 000002"):
        load_dataset("celeba", root, "train", rgb())


def test_folder_given_as_dot_has_no_empty_class(tmp_path, monkeypatch):
    write_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    monkeypatch.chdir(tmp_path / "pets")
    (tmp_path / "pets" / "stray.png").write_bytes(encode(np.zeros((8, 8, 3), np.uint8), "PNG"))
    data = load_dataset("folder", ".", "all", rgb())
    assert data.labels is None and "" not in data.class_names  # an image in the root: no classes
    (tmp_path / "pets" / "stray.png").unlink()
    assert load_dataset("folder", ".", "all", rgb()).class_names == ("cat", "dog")


def test_small_folder_still_has_a_test_image(tmp_path):
    root = write_folder(tmp_path / "five", sizes=((20, 20),))
    for extra in sorted(root.iterdir())[5:]:
        extra.unlink()
    assert len(load_dataset("folder", root, "test", rgb())) == 1
    assert len(load_dataset("folder", root, "train", rgb())) == 4


def test_garbled_meta_json_is_rebuilt_and_notes_are_repeated(tmp_path, caplog):
    root, _ = write_lfw(tmp_path / "lfw", without_row=(("Zico", 1),))
    cache = tmp_path / "cache"
    load_dataset("lfw", root, "train", rgb(), cache_dir=cache)
    caplog.clear()
    again = load_dataset("lfw", root, "train", rgb(), cache_dir=cache)
    assert "Zico_0001.jpg" in caplog.text and "Zico_0001.jpg" in again.notes[0]
    caplog.clear()
    (meta,) = [e / "meta.json" for e in entries(cache)]
    meta.write_text("{not json")
    rebuilt = load_dataset("lfw", root, "train", rgb(), cache_dir=cache)
    np.testing.assert_array_equal(rebuilt.images, again.images)
    assert "corrupt cache entry" in caplog.text


def test_resample_equals_blur_then_bicubic():
    import math

    import torch
    import torch.nn.functional as F

    from vaegan.data.transform import blur

    images = np.random.default_rng(0).integers(0, 256, (3, 148, 120, 3)).astype(np.uint8)
    x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)
    x = blur(x, math.sqrt(148 / 64) / 2, math.sqrt(120 / 64) / 2)
    x = F.interpolate(x, size=(64, 64), mode="bicubic", align_corners=False)
    expected = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    got = resample(images, 64)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert (got != expected).mean() < 1e-4
