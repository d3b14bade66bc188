"""`vaegan data download`: resumable, SHA-256-verified downloads of the public data sets.

Standard library only (urllib): each file goes to NAME.part, is hashed while it streams, and is
renamed to NAME only once its digest matches, so a file named NAME is always the official one.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from vaegan.errors import DataError
from vaegan.files import file_digest, file_sha256
from vaegan.progress import bar as progress_bar
from vaegan.progress import logger

CHUNK = 1 << 20  # 1 MiB: few syscalls, small memory, a smooth progress bar
USER_AGENT = "vaegan-data-download"  # some hosts refuse urllib's default "Python-urllib/3.x"


@dataclass(frozen=True)
class RemoteFile:
    """A file to download, and the SHA-256 it must have to be kept."""

    url: str  # full URL
    name: str  # file name to write in the target dir (usually the URL's last part)
    sha256: str  # hex digest of the official file
    size: int | None = None  # bytes, when known (progress total and a quick check)


# Digests and sizes are copied from TensorFlow Datasets' checksum files (tensorflow/datasets,
# tensorflow_datasets/url_checksums/{mnist,fashion_mnist,svhn_cropped,lfw}.txt, the same lines
# as tensorflow_datasets/datasets/*/checksums.tsv). Cross-checks:
# - MNIST: TFDS hashed the copies on storage.googleapis.com/cvdf-datasets; the same SHA-256 is used
#   for the ossci-datasets mirror by ankane/torchvision-ruby (lib/torchvision/datasets/mnist.rb),
#   and the sizes equal those of the original yann.lecun.com files.
# - Fashion-MNIST: Debian's dataset-fashion-mnist files hash to the same digests once their gzip
#   header (name and mtime, stripped for reproducible builds) is restored.
# - SVHN: the same three digests are used by many independent loaders.
# - LFW: scikit-learn (sklearn/datasets/_lfw.py) pins the same digest for lfw.tgz.
# Left out for want of a published SHA-256 (only an MD5, or nothing, is published):
# lfw-deepfunneled.tgz and lfw_attributes.txt; see NOTES for fetching the latter by hand.

# The original yann.lecun.com host is often down (or refuses scripts); this S3 mirror, the one
# torchvision uses, serves the identical files.
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_SVHN = "http://ufldl.stanford.edu/housenumbers/"
_LFW = "http://vis-www.cs.umass.edu/lfw/"
_LFW_ATTRIBUTES = "http://www.cs.columbia.edu/CAVE/databases/pubfig/download/lfw_attributes.txt"

SOURCES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": (
        RemoteFile(
            _MNIST + "train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9912422,
        ),
        RemoteFile(
            _MNIST + "train-labels-idx1-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28881,
        ),
        RemoteFile(
            _MNIST + "t10k-images-idx3-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1648877,
        ),
        RemoteFile(
            _MNIST + "t10k-labels-idx1-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4542,
        ),
    ),
    "fashion-mnist": (
        RemoteFile(
            _FASHION + "train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26421880,
        ),
        RemoteFile(
            _FASHION + "train-labels-idx1-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29515,
        ),
        RemoteFile(
            _FASHION + "t10k-images-idx3-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4422102,
        ),
        RemoteFile(
            _FASHION + "t10k-labels-idx1-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5148,
        ),
    ),
    "svhn": (
        RemoteFile(
            _SVHN + "train_32x32.mat",
            "train_32x32.mat",
            "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
            182040794,
        ),
        RemoteFile(
            _SVHN + "test_32x32.mat",
            "test_32x32.mat",
            "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
            64275384,
        ),
        RemoteFile(
            _SVHN + "extra_32x32.mat",
            "extra_32x32.mat",
            "a133a4beb38a00fcdda90c9489e0c04f900b660ce8a316a5e854838379a71eb3",
            1329278602,
        ),
    ),
    "lfw": (
        RemoteFile(
            _LFW + "lfw.tgz",
            "lfw.tgz",
            "055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0",
            180566744,
        ),
    ),
}

# Said after a data set is fetched: what must still be fetched by hand, unverified.
NOTES: dict[str, str] = {
    "lfw": (
        "lfw_attributes.txt has no published checksum, so it is not downloaded for you: "
        f"fetch it from {_LFW_ATTRIBUTES} and put it next to lfw.tgz."
    ),
}

CELEBA_INSTRUCTIONS = """\
CelebA has no stable direct download link (it is shared through Google Drive and Baidu), \
so fetch it by hand:
  1. open https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and follow its download link;
  2. "Align&Cropped Images": img_align_celeba.zip (202,599 images, 000001.jpg ... 202599.jpg);
     keep it zipped (it is read without extracting) or extract it to img_align_celeba/;
  3. "Anno": list_attr_celeba.txt (the 40 binary attributes);
  4. "Eval": list_eval_partition.txt (the train/validation/test split);
  5. put all of them in one directory DIR and pass --data-dir DIR."""


def download(
    name: str, to: Path, *, mirror: str | None = None, progress: bool = True
) -> list[Path]:
    """Fetch data set `name` (a key of SOURCES) into `to`; returns the files' paths.

    'celeba' cannot be fetched by script: its DataError says how to fetch it by hand.
    """
    if name == "celeba":
        raise DataError(CELEBA_INSTRUCTIONS)
    if name not in SOURCES:
        known = ", ".join(sorted([*SOURCES, "celeba"]))
        raise DataError(f"unknown data set '{name}' (known: {known})")
    paths = download_files(SOURCES[name], Path(to), mirror=mirror, progress=progress)
    if name in NOTES:
        _say(f"note: {NOTES[name]}")
    return paths


def download_files(
    files: Sequence[RemoteFile],
    to: Path,
    *,
    mirror: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> list[Path]:
    """Fetch each file into `to` (from `mirror`/NAME when given) and return their paths."""
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    paths = []
    for file in files:
        url = f"{mirror.rstrip('/')}/{file.name}" if mirror else file.url
        target = to / file.name
        if target.is_file() and _matches(target, file):
            _say(f"{target}: already present, SHA-256 verified; skipped")
        else:
            _fetch(file, url, target, progress=progress, timeout=timeout)
        paths.append(target)
    return paths


def _say(message: str) -> None:
    # the log (stderr): stdout stays free for what the CLI prints (the files' paths)
    logger.info(message)


def _matches(path: Path, file: RemoteFile) -> bool:
    if file.size is not None and path.stat().st_size != file.size:
        return False  # quick check: no need to hash a file of the wrong size
    return file_sha256(path) == file.sha256


def _fetch(file: RemoteFile, url: str, target: Path, *, progress: bool, timeout: float) -> None:
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if file.size is not None and have > file.size:
        part.unlink()  # longer than the official file: not a prefix of it
        have = 0
    if file.size is not None and have == file.size:
        digest = file_digest(part)  # complete already (a Range past the end would get a 416)
    else:
        try:
            digest = _receive(url, part, have, file.size, progress=progress, timeout=timeout)
        except _RangeNotSatisfiable:
            part.unlink()  # the server disowns our partial file: start again, once
            digest = _receive(url, part, 0, file.size, progress=progress, timeout=timeout)
    actual = digest.hexdigest()
    if actual != file.sha256:
        part.unlink()  # a wrong file must not be resumed from
        raise DataError(
            f"{file.name}: SHA-256 mismatch for {url}: expected {file.sha256}, got {actual}; "
            "the download was deleted (a corrupted transfer or a changed file on the server)"
        )
    os.replace(part, target)  # atomic: NAME never holds a partial or unverified file


class _RangeNotSatisfiable(Exception):
    pass


def _receive(url: str, part: Path, have: int, size: int | None, *, progress: bool, timeout: float):
    """Append the rest of `url` to `part`, or rewrite it when the server ignores the Range.

    Returns the SHA-256 state of the whole `part`, hashed as it is written.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            raise _RangeNotSatisfiable from None
        raise DataError(f"{url}: the server answered HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DataError(
            f"cannot reach {url} ({reason}): the host cannot be reached (are you offline?). "
            f"To fetch the file by hand, download that URL on another machine and put it in "
            f"{part.parent}/ as {part.name.removesuffix('.part')}; it is verified by SHA-256 "
            "when you rerun this command."
        ) from None
    with response:
        if have and response.status == 206:
            digest = file_digest(part)  # resume: the digest must cover the bytes already on disk
        else:
            digest, have = hashlib.sha256(), 0  # 200: the whole file comes again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else size
        with (
            part.open("ab" if have else "wb") as out,
            progress_bar(
                total=total,
                initial=have,
                desc=part.name.removesuffix(".part"),
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                enabled=progress,
            ) as bar,
        ):
            got, dropped = _copy(response, out, digest, bar)
    done = have + got
    if dropped or (total is not None and done < total):
        of = f"{total}" if total is not None else "an unknown number of"
        raise DataError(
            f"the download of {url} was cut at {done} of {of} bytes; {part} is kept: "
            "rerun the command to resume it"
        )
    return digest


def _copy(response: http.client.HTTPResponse, out: BinaryIO, digest, bar: tqdm) -> tuple[int, bool]:
    """Copy the body into `out`, hashing it: (bytes copied, whether the connection failed).

    A connection closed early is no error to http.client (read returns b""), so the caller
    compares the count with the Content-Length the server promised.
    """
    got = 0
    while True:
        try:
            # read1, not read: it returns what has arrived, so a drop loses no received bytes
            chunk = response.read1(CHUNK)
        except (OSError, http.client.HTTPException):
            return got, True
        if not chunk:
            return got, False
        out.write(chunk)
        digest.update(chunk)
        bar.update(len(chunk))
        got += len(chunk)
