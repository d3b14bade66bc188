"""`vaegan push` and `vaegan.load("OWNER/NAME")` against a fake Hub on 127.0.0.1 (no network)."""

import base64
import hashlib
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import vaegan
from vaegan.cli import main
from vaegan.errors import VaeganError
from vaegan.training import train

from helpers import tiny_config

EXPORTED = {"README.md", "config.json", "model.json", "model.safetensors", "samples.png"}


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=lambda: ["0" * 40])

    @property
    def sha(self) -> str:
        return self.commits[-1]


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub(BaseHTTPRequestHandler):
    """The few endpoints huggingface_hub's create_repo, upload_folder and snapshot_download
    call. The preupload answer sends every file inline ("regular"); the real Hub would take
    the weights through Xet storage, which huggingface_hub handles on its own."""

    repos: dict[str, Repo]
    auth: list[str | None]
    url: str

    def log_message(self, *args) -> None:  # quiet
        pass

    def reply(self, status: int, body: object = None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def repo(self, repo_id: str) -> Repo | None:
        if repo_id not in self.repos:
            self.reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            return None
        return self.repos[repo_id]

    def do_POST(self) -> None:
        self.auth.append(self.headers.get("authorization"))
        path = self.path.split("?")[0]
        if path == "/api/repos/create":
            payload = json.loads(self.body())
            repo_id = f"{payload['organization']}/{payload['name']}"
            answer = {"url": f"{self.url}/{repo_id}"}
            if repo_id in self.repos:
                return self.reply(409, answer | {"error": "You already created this model repo"})
            self.repos[repo_id] = Repo()
            return self.reply(200, answer)
        if path == "/api/validate-yaml":
            content = json.loads(self.body())["content"]
            ok = re.match(r"---\n.*library_name: vaegan\n.*\n---\n", content, re.S)
            return self.reply(200 if ok else 400, {"errors": [], "warnings": []})
        match = re.fullmatch(r"/api/models/(\w+/[\w.-]+)/(preupload|commit)/main", path)
        if match is None:
            return self.reply(404, {"error": f"no route {path}"})
        repo = self.repo(match[1])
        if repo is None:
            return
        body = self.body()
        if match[2] == "preupload":
            asked = json.loads(body)["files"]
            files = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in asked
            ]
            return self.reply(200, {"files": files})
        for line in map(json.loads, body.splitlines()[1:]):  # after the header line
            assert line["key"] == "file", line  # inline, as preupload asked
            repo.files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        repo.commits.append(hashlib.sha1(repr(sorted(repo.files.items())).encode()).hexdigest())
        self.reply(
            200, {"commitUrl": f"{self.url}/{match[1]}/commit/{repo.sha}", "commitOid": repo.sha}
        )

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        api = re.fullmatch(r"/api/models/(\w+/[\w.-]+)/(revision|tree)/(\w+)", path)
        resolve = re.fullmatch(r"/(\w+/[\w.-]+)/resolve/(\w+)/([\w.]+)", path)
        repo = self.repo((api or resolve)[1]) if api or resolve else None
        if repo is None:
            return None if api or resolve else self.reply(404, {"error": f"no route {path}"})
        if api and api[2] == "revision":
            siblings = [{"rfilename": name} for name in repo.files]
            return self.reply(200, {"id": api[1], "sha": repo.sha, "siblings": siblings})
        if api:
            tree = [
                {"type": "file", "path": name, "size": len(data), "oid": git_oid(data)}
                for name, data in repo.files.items()
            ]
            return self.reply(200, tree)
        data = repo.files[resolve[3]]
        self.send_response(200)
        self.send_header("X-Repo-Commit", repo.sha)
        self.send_header("ETag", f'"{git_oid(data)}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(data)

    do_HEAD = do_GET


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fake Hub on a free port: HF_ENDPOINT points at it, the cache is tmp_path's, no token."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    handler = type("Hub", (FakeHub,), {"repos": {}, "auth": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", handler.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub reads these once, at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def run(tmp_path_factory, idx_dir_module) -> Path:
    root = tmp_path_factory.mktemp("hub")
    train(tiny_config(idx_dir_module), root / "run", progress=False, cache_dir=root / "cache")
    return root / "run"


def samples(model):
    return model.sample(6, generator=torch.Generator().manual_seed(0))


def test_push_then_load_by_repo_id(hub, run, tmp_path, capsys, monkeypatch):
    assert main(["push", str(run), "alice/tiny-vaegan", "--token", "hf_test"]) == 0
    assert 'vaegan.load("alice/tiny-vaegan")' in capsys.readouterr().out
    repo = hub.repos["alice/tiny-vaegan"]
    assert set(repo.files) == EXPORTED and len(repo.commits) == 2
    assert set(hub.auth) == {"Bearer hf_test"}  # every write carried the token
    assert b'vaegan.load("alice/tiny-vaegan")' in repo.files["README.md"]

    model = vaegan.load("alice/tiny-vaegan", "cpu")
    torch.testing.assert_close(samples(model), samples(vaegan.load(run, "cpu")))
    snapshot = tmp_path / "hf-cache/models--alice--tiny-vaegan/snapshots" / repo.sha
    assert {p.name for p in snapshot.iterdir()} == {
        "config.json",
        "model.json",
        "model.safetensors",
    }

    monkeypatch.setenv("HF_TOKEN", "hf_env")  # a second push: the repository exists, a new commit
    assert main(["push", str(run), "alice/tiny-vaegan"]) == 0
    assert len(repo.commits) == 3 and hub.auth[-1] == "Bearer hf_env"
    torch.testing.assert_close(
        samples(vaegan.load("alice/tiny-vaegan@main", "cpu")), samples(model)
    )


def test_push_without_a_token(hub, run, capsys):
    assert main(["push", str(run), "alice/tiny-vaegan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Hugging Face token: pass --token, set HF_TOKEN" in err
    assert hub.auth == []  # refused before exporting or calling the Hub


@pytest.mark.parametrize(
    "repo", ["tiny-vaegan", "alice/b/c", "alice/tiny@main", "alice/.tiny", "a/b--c"]
)
def test_a_malformed_repository_id(hub, run, capsys, repo):
    assert main(["push", str(run), repo, "--token", "hf_test"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'{repo}': not a Hub repository id; expected OWNER/NAME" in err
    assert hub.auth == []


def test_a_repository_that_is_not_there(hub):
    expected = r"^alice/nope: not a folder here, and not loadable from the Hub \(404 Client Error: "
    with pytest.raises(VaeganError, match=expected + "Repository Not Found"):
        vaegan.load("alice/nope", "cpu")


def test_without_huggingface_hub(run, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import -> ImportError
    assert main(["push", str(run), "alice/tiny-vaegan", "--token", "t"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'needs huggingface_hub: pip install "vaegan[hub]"' in err
    with pytest.raises(VaeganError, match=r'alice/x: not a folder here; .* "vaegan\[hub\]"'):
        vaegan.load("alice/x", "cpu")
