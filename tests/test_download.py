"""Downloads against a local HTTP server on 127.0.0.1 that can be told to misbehave."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vaegan.data.download import (
    CELEBA_INSTRUCTIONS,
    CHUNK,
    SOURCES,
    RemoteFile,
    download,
    download_files,
)
from vaegan.errors import DataError

# Two and a half chunks: streaming, cutting and resuming all cross chunk boundaries.
CONTENT = random.Random(0).randbytes(2 * CHUNK + CHUNK // 2)
DIGEST = hashlib.sha256(CONTENT).hexdigest()
CUT = CHUNK + 12345


@dataclass
class Behaviour:
    """What the server serves, what it saw, and how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=lambda: {"/data/blob.bin": CONTENT})
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    cut_after: int | None = None  # promise the full length, close after this many bytes (once)
    stall_after: int | None = None  # promise the full length, then go silent after this many
    ignore_range: bool = False  # answer 200 with the whole file to a Range request


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.requests.append((self.path, range_header))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if range_header and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if state.cut_after is not None:
            payload, state.cut_after = payload[: state.cut_after], None
            self.close_connection = True
        if state.stall_after is not None:
            self.wfile.write(payload[: state.stall_after])
            self.wfile.flush()
            time.sleep(0.5)  # longer than the client's timeout in the test
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@dataclass
class Server:
    url: str
    behaviour: Behaviour

    def file(self, sha256: str = DIGEST, size: int | None = len(CONTENT)) -> RemoteFile:
        return RemoteFile(f"{self.url}/data/blob.bin", "blob.bin", sha256, size)

    def paths(self) -> list[str]:
        return [path for path, _ in self.behaviour.requests]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy in the environment must not intercept
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.behaviour = Behaviour()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.behaviour)  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def fetch(server: Server, to: Path, **kwargs) -> list[Path]:
    return download_files([kwargs.pop("file", server.file())], to, progress=False, **kwargs)


def test_good_download_writes_verified_file_and_removes_part(server: Server, tmp_path: Path):
    paths = fetch(server, tmp_path)
    assert paths == [tmp_path / "blob.bin"]
    assert hashlib.sha256(paths[0].read_bytes()).hexdigest() == DIGEST
    assert not (tmp_path / "blob.bin.part").exists()
    assert server.behaviour.requests == [("/data/blob.bin", None)]


def test_second_call_skips_a_verified_file(server: Server, tmp_path: Path, caplog):
    caplog.set_level("INFO", logger="vaegan")
    fetch(server, tmp_path)
    fetch(server, tmp_path)
    assert len(server.behaviour.requests) == 1
    assert "already present, SHA-256 verified; skipped" in caplog.text


def test_present_file_with_wrong_content_is_replaced(server: Server, tmp_path: Path):
    (tmp_path / "blob.bin").write_bytes(b"x" * len(CONTENT))
    fetch(server, tmp_path)
    assert (tmp_path / "blob.bin").read_bytes() == CONTENT


def test_wrong_checksum_names_file_and_digests_and_leaves_nothing(server: Server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(DataError) as err:
        fetch(server, tmp_path, file=server.file(sha256=wrong))
    message = str(err.value)
    assert "blob.bin" in message and server.file().url in message
    assert wrong in message and DIGEST in message
    assert list(tmp_path.iterdir()) == []


def test_cut_download_keeps_part_and_rerun_resumes_with_range(server: Server, tmp_path: Path):
    server.behaviour.cut_after = CUT
    with pytest.raises(DataError, match=f"cut at {CUT} of {len(CONTENT)} bytes.*resume"):
        fetch(server, tmp_path)
    part = tmp_path / "blob.bin.part"
    assert part.read_bytes() == CONTENT[:CUT]
    assert not (tmp_path / "blob.bin").exists()

    fetch(server, tmp_path)
    assert server.behaviour.requests[-1] == ("/data/blob.bin", f"bytes={CUT}-")
    assert (tmp_path / "blob.bin").read_bytes() == CONTENT
    assert not part.exists()


def test_stalled_download_keeps_every_received_byte(server: Server, tmp_path: Path):
    server.behaviour.stall_after = CUT
    with pytest.raises(DataError, match=f"cut at {CUT} of {len(CONTENT)} bytes"):
        fetch(server, tmp_path, timeout=0.2)
    assert (tmp_path / "blob.bin.part").read_bytes() == CONTENT[:CUT]


def test_server_ignoring_range_restarts_from_scratch(server: Server, tmp_path: Path):
    (tmp_path / "blob.bin.part").write_bytes(CONTENT[:CUT])
    server.behaviour.ignore_range = True
    fetch(server, tmp_path)
    assert server.behaviour.requests == [("/data/blob.bin", f"bytes={CUT}-")]
    assert (tmp_path / "blob.bin").read_bytes() == CONTENT  # not the prefix twice


def test_complete_part_is_verified_without_a_request(server: Server, tmp_path: Path):
    (tmp_path / "blob.bin.part").write_bytes(CONTENT)
    fetch(server, tmp_path)
    assert server.behaviour.requests == []
    assert (tmp_path / "blob.bin").read_bytes() == CONTENT


def test_http_error_names_status_and_url(server: Server, tmp_path: Path):
    missing = RemoteFile(f"{server.url}/nowhere/blob.bin", "blob.bin", DIGEST)
    with pytest.raises(DataError, match="404") as err:
        fetch(server, tmp_path, file=missing)
    assert missing.url in str(err.value)


def test_connection_refused_says_unreachable_and_how_to_fetch_by_hand(tmp_path: Path):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/blob.bin"
    with pytest.raises(DataError, match="offline") as err:
        download_files([RemoteFile(url, "blob.bin", DIGEST)], tmp_path, progress=False)
    message = str(err.value)
    assert url in message and "cannot be reached" in message
    assert str(tmp_path) in message and "SHA-256" in message


def test_mirror_replaces_the_official_url(server: Server, tmp_path: Path):
    server.behaviour.files = {"/mirror/blob.bin": CONTENT}
    official = RemoteFile("http://127.0.0.1:9/official/blob.bin", "blob.bin", DIGEST)
    fetch(server, tmp_path, file=official, mirror=f"{server.url}/mirror/")
    assert server.paths() == ["/mirror/blob.bin"]
    assert (tmp_path / "blob.bin").read_bytes() == CONTENT


def test_celeba_raises_with_instructions(tmp_path: Path):
    with pytest.raises(DataError) as err:
        download("celeba", tmp_path)
    assert str(err.value) == CELEBA_INSTRUCTIONS
    for needed in ("img_align_celeba", "list_attr_celeba.txt", "list_eval_partition.txt"):
        assert needed in CELEBA_INSTRUCTIONS
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_lists_known_ones(tmp_path: Path):
    with pytest.raises(DataError, match="unknown data set 'cifar'") as err:
        download("cifar", tmp_path)
    for name in (*SOURCES, "celeba"):
        assert name in str(err.value)


def test_every_source_has_a_digest_and_a_url_ending_with_its_name():
    assert set(SOURCES) == {"mnist", "fashion-mnist", "svhn", "lfw"}
    for files in SOURCES.values():
        assert files
        for file in files:
            assert re.fullmatch(r"[0-9a-f]{64}", file.sha256), file
            assert file.url.endswith("/" + file.name), file
            assert file.size is None or file.size > 0
