"""Preprocessed data sets cached on disk as memory-mapped uint8 arrays, keyed by their inputs.

An entry is a folder `<data set>-<split>-<key>` holding images.npy (and labels.npy,
attributes.npy) plus meta.json, written last, with the SHA-256 of each array file. The key hashes
the input files (path, size, modification time), the preprocessing options and the format
version, so changed inputs or options miss the cache (a stale entry is never used). An entry
whose files do not match meta.json is reported, deleted and rebuilt. Entries are built in a
temporary folder and renamed into place, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vaegan.data.dataset import Dataset, report
from vaegan.data.transform import LoadOptions
from vaegan.errors import DataError
from vaegan.files import file_sha256, publish_permissions

# Bump when a loader's output changes for the same inputs and options: old entries then miss.
CACHE_FORMAT = 1
ARRAYS = ("images", "labels", "attributes")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/vaegan, or ~/.cache/vaegan when XDG_CACHE_HOME is unset."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vaegan"


def input_identity(paths: list[Path]) -> str:
    """SHA-256 over (path, size, mtime, ctime, inode) of each input file, folders expanded to
    every file beneath them. os.scandir keeps this to about a second for 202,599 files."""
    digest = hashlib.sha256()
    for path in paths:
        if path.is_dir():
            entries = walk(os.path.abspath(path))
        else:
            entries = [(os.path.abspath(path), path.stat())]
        for name, stat in entries:
            # ctime and inode too: copy tools can keep a rewritten file's size and mtime.
            identity = (name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
            digest.update(("\0".join(map(str, identity)) + "\n").encode())
    return digest.hexdigest()


def walk(folder: str) -> list[tuple[str, os.stat_result]]:
    """Every file beneath `folder`, sorted, with its stat."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                found += walk(entry.path)
            elif entry.is_file():
                found.append((entry.path, entry.stat()))
    return sorted(found)


def cache_key(name: str, split: str, options: LoadOptions, inputs: list[Path]) -> dict:
    """What names a cache entry: the format version, data set, split, preprocessing options and the
    inputs' identity (input_identity)."""
    return {
        "format": CACHE_FORMAT,
        "data": name,
        "split": split,
        "options": asdict(options),
        "inputs": input_identity(inputs),
    }


def cached_dataset(cache_dir: Path | None, key: dict, build: Callable[[], Dataset]) -> Dataset:
    """The cached result of `build()` for `key`, building and caching it on a miss."""
    if cache_dir is None:
        return build()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    entry = Path(cache_dir) / "datasets" / f"{key['data']}-{key['split']}-{digest[:20]}"
    if entry.exists():
        try:
            return read_entry(entry, digest)
        except CorruptEntry as err:
            report(f"{entry}: corrupt cache entry ({err}); rebuilding it")
            shutil.rmtree(entry, ignore_errors=True)
    dataset = build()
    try:
        write_entry(entry, digest, dataset)
        return read_entry(entry, digest, fresh=True)
    except (OSError, CorruptEntry) as err:
        raise DataError(
            f"{entry}: cannot write the data cache there ({err}); pass --cache-dir DIR"
        ) from None


class CorruptEntry(Exception):
    """A cache entry whose files do not match its meta.json: reported, deleted and rebuilt."""


def write_entry(entry: Path, digest: str, dataset: Dataset) -> None:
    """Save `dataset`'s arrays and meta.json (each array's SHA-256) in a temporary folder, then
    rename it to `entry`; if another process got there first, its entry is kept."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}."))
    try:
        files = {}
        for array_name in ARRAYS:
            array = getattr(dataset, array_name)
            if array is not None:
                np.save(staging / f"{array_name}.npy", np.ascontiguousarray(array))
                files[array_name] = file_sha256(staging / f"{array_name}.npy")
        meta = {
            "key": digest,
            "name": dataset.name,
            "files": files,
            "shape": list(dataset.images.shape),
            "class_names": list(dataset.class_names),
            "attribute_names": list(dataset.attribute_names),
            "attribute_kind": dataset.attribute_kind,
            "notes": list(dataset.notes),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        publish_permissions(staging, directory=True)
        try:
            staging.rename(entry)
        except OSError:  # another process built the same entry meanwhile: keep theirs
            shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_entry(entry: Path, digest: str, fresh: bool = False) -> Dataset:
    """The entry's arrays, memory-mapped copy-on-write, after checking every file's SHA-256.
    Its notes (what the loader left out) are reported again: a cached run says it too. A
    `fresh` entry, just written and hashed by this process, is neither checked nor reported."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("key") != digest:
            raise CorruptEntry("its meta.json belongs to another key")
        arrays = {}
        for array_name, sha256 in meta["files"].items():
            file = entry / f"{array_name}.npy"
            if not fresh and file_sha256(file) != sha256:
                raise CorruptEntry(f"{file.name} does not match its checksum")
            arrays[array_name] = np.load(file, mmap_mode="c", allow_pickle=False)
        if list(arrays["images"].shape) != meta["shape"]:
            raise CorruptEntry("images.npy has the wrong shape")
        for note in [] if fresh else meta["notes"]:
            report(note)
        return Dataset(
            name=meta["name"],
            images=arrays["images"],
            labels=arrays.get("labels"),
            class_names=tuple(meta["class_names"]),
            attributes=arrays.get("attributes"),
            attribute_names=tuple(meta["attribute_names"]),
            attribute_kind=meta["attribute_kind"],
            notes=tuple(meta["notes"]),
            fingerprint=meta["files"]["images"],
        )
    except CorruptEntry:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptEntry(f"{type(err).__name__}: {err}") from None
