"""`vaegan data obtain` (what `make demo` runs first): each way of getting the data, with fakes
for apt-get and the network."""

from dataclasses import replace

import pytest

import vaegan.data
from vaegan.data import load_dataset
from vaegan.data.download import SOURCES
from vaegan.data.obtain import Means, download_dir, obtain
from vaegan.errors import DataError

from helpers import write_idx_dataset


def no_apt() -> bool:
    return False


def offline(name, to, **kwargs):
    raise DataError("https://example.org: cannot connect (network is unreachable)")


def never(*args, **kwargs):
    pytest.fail("should not be called")


def test_an_installed_data_set_is_used_where_it_is(tmp_path):
    installed = tmp_path / "usr/share/datasets/fashion-mnist"
    installed.mkdir(parents=True)
    assert obtain("fashion-mnist", installed, tmp_path, Means(never, never, never)) == (
        installed,
        "installed",
    )


def test_apt_installs_the_debian_package_where_it_can(tmp_path):
    installed = tmp_path / "usr/share/datasets/fashion-mnist"
    asked = []

    def apt_install(package):
        asked.append(package)
        installed.mkdir(parents=True)
        return True

    found = obtain("fashion-mnist", installed, tmp_path, Means(lambda: True, apt_install, never))
    assert found == (installed, "installed the Debian package dataset-fashion-mnist")
    assert asked == ["dataset-fashion-mnist"]


def test_without_apt_it_downloads_once_into_the_cache(tmp_path):
    calls = []

    def fake_download(name, to, **kwargs):
        calls.append(name)
        to.mkdir(parents=True)
        for file in SOURCES[name]:
            (to / file.name).write_bytes(b"verified elsewhere")
        return [to / file.name for file in SOURCES[name]]

    means = Means(no_apt, never, fake_download)
    missing = tmp_path / "not-installed"
    assert obtain("fashion-mnist", missing, tmp_path, means) == (
        download_dir("fashion-mnist", tmp_path),
        "downloaded",
    )
    assert obtain("fashion-mnist", missing, tmp_path, means)[1] == "downloaded before"
    assert calls == ["fashion-mnist"]


def test_offline_without_the_package_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        obtain("fashion-mnist", tmp_path / "nope", tmp_path, Means(no_apt, never, offline))
    message = str(err.value)
    assert "network is unreachable" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "vaegan data download fashion-mnist --to DIR" in message


def test_a_failed_apt_falls_back_to_the_download(tmp_path):
    with pytest.raises(DataError, match="download failed"):
        obtain(
            "fashion-mnist", tmp_path / "nope", tmp_path, Means(lambda: True, no_apt_ok, offline)
        )


def no_apt_ok(package):
    return False


def test_the_loaders_find_a_download_when_nothing_is_installed(tmp_path, monkeypatch):
    write_idx_dataset(download_dir("fashion-mnist"))  # the test's cache (XDG_CACHE_HOME)
    spec = vaegan.data.DATASETS["fashion-mnist"]
    monkeypatch.setitem(
        vaegan.data.DATASETS,
        "fashion-mnist",
        replace(spec, default_dir=str(tmp_path / "not-installed")),
    )
    assert len(load_dataset("fashion-mnist", None, "test")) == 16


def test_the_loaders_find_a_download_in_a_chosen_cache(tmp_path, monkeypatch):
    write_idx_dataset(download_dir("fashion-mnist", tmp_path / "cache"))
    spec = vaegan.data.DATASETS["fashion-mnist"]
    missing = replace(spec, default_dir=str(tmp_path / "not-installed"))
    monkeypatch.setitem(vaegan.data.DATASETS, "fashion-mnist", missing)
    assert len(load_dataset("fashion-mnist", None, "test", cache_dir=tmp_path / "cache")) == 16
