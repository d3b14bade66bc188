"""Files written so that a crash never leaves half of one, and read with one clear error.

The layer just above `errors`: checkpoints, data caches, the judge and downloads all write and
check files through it, so none of them imports the models to do so. Also the run folder's lock,
and JSON files updated under a lock of their own.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError

from vaegan.errors import CheckpointError, VaeganError

if TYPE_CHECKING:  # torch loads only where tensors are read or written: the CLI starts fast
    import torch
    from torch import nn


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_permissions(path: Path, directory: bool = False) -> None:
    """Give a temp file/folder (created 0600/0700) the permissions a plain open() would."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def file_digest(path: Path) -> hashlib._Hash:
    """SHA-256 state of a file, read in 8 MiB pieces (cached data sets run to gigabytes); a
    download resumes from it."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 23):
            digest.update(piece)
    return digest


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 8 MiB pieces."""
    return file_digest(path).hexdigest()


def os_reason(err: BaseException) -> str:
    """What went wrong with a file, without its path (the caller names the path)."""
    return getattr(err, "strerror", None) or str(err)


def check_writable(folder: Path) -> None:
    """Fail before any work if nothing can be written into `folder` (read-only, not a folder)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise VaeganError(f"{folder}: cannot write there ({os_reason(err)})") from None


def atomic_save_tensors(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> None:
    """safetensors file written beside `path` and renamed over it, with plain file permissions."""
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        publish_permissions(tmp)  # safetensors creates 0600 files
        tmp.replace(path)
    except (OSError, SafetensorError) as err:
        tmp.unlink(missing_ok=True)
        raise VaeganError(f"{path}: cannot write ({os_reason(err)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename over `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise VaeganError(f"{path}: cannot write ({os_reason(err)})") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        publish_permissions(Path(tmp))
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise VaeganError(f"{path}: cannot write ({os_reason(err)})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(file: Path, error: type[VaeganError] = VaeganError) -> dict:
    """A JSON object from `file`, or one `error` naming the file and the problem."""
    try:
        data = json.loads(Path(file).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise error(f"{file}: cannot read ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{file}: expected a JSON object")
    return data


def locked_update_json(path: Path, update: Callable[[dict | None], dict]) -> dict:
    """Replace JSON object `path` (None to `update` if there is none) with `update` of it, under
    an exclusive lock that waits for any other process's update: two processes that read, merge
    and write at once would otherwise each write what it read, less the other's change. The
    write is atomic; the lock is .NAME.lock beside the file. Returns what was written."""
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as atomic_write_text would
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise VaeganError(f"{lock}: cannot lock ({os_reason(err)})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the holder is done (or its process ends)
        data = update(read_json(path) if path.exists() else None)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return data
    finally:
        os.close(fd)  # releases the lock; the file stays, so every process locks the same inode


def load_weights(module: nn.Module, file: Path) -> None:
    """Load a safetensors state dict, checking every key and shape first."""
    tensors = read_safetensors(file)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{file}: does not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for key, value in expected.items():
        if tensors[key].shape != value.shape:
            raise CheckpointError(
                f"{file}: tensor '{key}' has shape {tuple(tensors[key].shape)} but the config "
                f"builds {tuple(value.shape)}"
            )
    module.load_state_dict(tensors)


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, on the CPU; CheckpointError naming the file if it is
    missing or unreadable."""
    if not file.is_file():
        raise CheckpointError(f"{file}: file not found")
    from safetensors.torch import load_file

    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{file}: not a readable safetensors file ({err})") from None


LOCK_FILE = ".lock"


class DirectoryLock:
    """An exclusive lock on a folder (FOLDER/.lock, flock) for as long as one run uses it.

    The operating system drops the lock when its process ends, however it ends, so a run that
    was killed never blocks the next one. The holder writes its pid into the file, so that a
    second run can say who holds it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:  # a file in the way, a read-only disk...
            raise VaeganError(
                f"{self.folder}: cannot hold a run there ({os_reason(err)})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise VaeganError(
                f"{self.folder}: in use by another run (pid {holder}); wait for it to finish "
                "or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def remove_path(path: Path) -> None:
    """Delete a file, a link (never what it points to) or a folder tree; missing is fine, any
    other failure raises."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
