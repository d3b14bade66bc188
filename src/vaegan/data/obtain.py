"""`vaegan data obtain NAME`: make a data set available with no step by hand, as `make demo` needs.

In order: the folder where a system package installs it (Fashion-MNIST: Debian's
dataset-fashion-mnist), an earlier download in the cache, the Debian package where apt-get is
usable (root, apt-get on the PATH), else a SHA-256-verified download into the cache. Offline and
without the package, one message says what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vaegan.data.cache import default_cache_dir
from vaegan.data.download import SOURCES, download
from vaegan.errors import DataError

# Data sets a distribution packages, and the package's name.
PACKAGES = {"fashion-mnist": "dataset-fashion-mnist", "mnist": "dataset-mnist"}


def download_dir(name: str, cache_dir: Path | None = None) -> Path:
    """Where `vaegan data obtain` downloads a data set (the loaders look there too)."""
    return (cache_dir or default_cache_dir()) / "downloads" / name


def apt_usable() -> bool:
    """True when apt-get is on the PATH and this process runs as root."""
    return shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(package: str) -> bool:
    """Install a Debian package; False (with apt's output shown) if it did not work."""
    update = subprocess.run(["apt-get", "update", "-qq"], check=False)
    install = subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False)
    return update.returncode == 0 and install.returncode == 0


@dataclass(frozen=True)
class Means:
    """How data can be obtained here (tests pass fakes)."""

    apt_usable: Callable[[], bool] = apt_usable
    apt_install: Callable[[str], bool] = apt_install
    download: Callable[..., list[Path]] = download


def complete(folder: Path, name: str) -> bool:
    """True when `folder` holds every file SOURCES lists for `name` (a finished download)."""
    return all((folder / file.name).is_file() for file in SOURCES.get(name, ()))


def obtain(
    name: str, default_dir: Path | None, cache_dir: Path | None = None, means: Means = Means()
) -> tuple[Path, str]:
    """The folder holding data set `name`, and how it got there."""
    if default_dir is not None and default_dir.is_dir():
        return default_dir, "installed"
    downloaded = download_dir(name, cache_dir)
    if complete(downloaded, name):
        return downloaded, "downloaded before"
    package = PACKAGES.get(name)
    apt = package and default_dir is not None and means.apt_usable()
    if apt and means.apt_install(package) and default_dir.is_dir():
        return default_dir, f"installed the Debian package {package}"
    if name not in SOURCES:
        raise DataError(f"{name}: cannot be obtained automatically; see `vaegan data download`")
    try:
        means.download(name, downloaded)
    except DataError as err:
        hint = f"apt-get install {package}, or " if package else ""
        raise DataError(
            f"{name}: not installed here and the download failed ({err}); {hint}"
            f"download it elsewhere with `vaegan data download {name} --to DIR`, copy DIR here "
            "and pass --data-dir DIR"
        ) from None
    return downloaded, "downloaded"
