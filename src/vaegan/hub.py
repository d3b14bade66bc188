"""The Hugging Face Hub: `vaegan push RUN OWNER/NAME` and `vaegan.load("OWNER/NAME")`.

A pushed model is the folder `vaegan export` writes (vaegan.export), uploaded as one commit; a
loaded one is its files fetched into huggingface_hub's cache (HF_HUB_CACHE) and read as any
exported folder. huggingface_hub is imported here only, when a command needs it (`pip install
"vaegan[hub]"`); the Hub's address is its usual HF_ENDPOINT variable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from vaegan.checkpoint import MODEL_RECORD, checkpoint_step, find_checkpoint
from vaegan.errors import VaeganError
from vaegan.export import export_model

logger = logging.getLogger(__name__)

HUB_HINT = 'pip install "vaegan[hub]"'
# The Hub's rule for a user or repository name: letters, digits, "-", "_", "."; no "--" or "..",
# neither "-" nor "." at either end; 96 characters at most.
_NAME = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?"
REPO_ID = re.compile(rf"(?P<repo>{_NAME}/{_NAME})(?:@(?P<revision>[\w./-]+))?")
# What vaegan.load needs of a repository: not the card, the grid or decoder.onnx.
LOAD_FILES = ["config.json", "model.safetensors", MODEL_RECORD]


def parse_repo_id(text: str) -> tuple[str, str | None] | None:
    """(repo id, revision or None) of "OWNER/NAME" or "OWNER/NAME@REVISION"; None otherwise."""
    match = REPO_ID.fullmatch(text)
    if match is None or "--" in match["repo"] or ".." in match["repo"]:
        return None
    return match["repo"], match["revision"]


def check_repo_id(text: str) -> str:
    """A repository id to push to, or one error that shows the form expected."""
    parsed = parse_repo_id(text)
    if parsed is None or parsed[1] is not None:
        raise VaeganError(
            f"'{text}': not a Hub repository id; expected OWNER/NAME (letters, digits, '-', "
            "'_', '.'), e.g. alice/vaegan-fashion"
        )
    return parsed[0]


def require_hub(why: str) -> ModuleType:
    """huggingface_hub, or one error that says how to install it."""
    try:
        import huggingface_hub
    except ImportError:
        raise VaeganError(f"{why} needs huggingface_hub: {HUB_HINT}") from None
    return huggingface_hub


def endpoint() -> str | None:
    """The Hub's address from HF_ENDPOINT as it is now (huggingface_hub reads it once, at
    import); None: huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or None


@contextlib.contextmanager
def hub_call(what: str) -> Iterator[None]:
    """A refusal of the Hub or of the network (an HTTP status, no connection, a missing
    repository) as one line that starts with `what`; the traceback goes to the debug log."""
    try:
        yield
    except VaeganError:
        raise
    except Exception as err:  # huggingface_hub's and its HTTP library's errors share no base
        logger.debug("%s", what, exc_info=True)
        raise VaeganError(f"{what} ({reason(err)})") from None


def reason(err: Exception) -> str:
    """The gist of a Hub error in one line."""
    lines = [line.strip().rstrip(".") for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    # An HTTP error's first line is its status alone ("404 Client Error."); the next says why.
    return ": ".join(lines[:2]) if re.match(r"\d{3} ", lines[0]) else lines[0]


def push(
    run: Path,
    repo: str,
    *,
    private: bool = False,
    token: str | None = None,
    onnx: bool = False,
) -> str:
    """Export a run and upload it to Hub repository `repo` (created if missing); returns its
    URL. token: a write token; default HF_TOKEN or the one `hf auth login` saved."""
    repo_id = check_repo_id(repo)
    hf = require_hub("vaegan push")
    token = token or hf.get_token()
    if not token:
        raise VaeganError(
            "no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login` "
            "(a token with write access, huggingface.co/settings/tokens)"
        )
    with tempfile.TemporaryDirectory(prefix="vaegan-push-") as tmp:
        folder = export_model(run, Path(tmp) / "model", onnx=onnx, repo_id=repo_id)
        step = checkpoint_step(find_checkpoint(folder))
        api = hf.HfApi(endpoint=endpoint(), token=token, library_name="vaegan")
        with hub_call(f"{repo_id}: cannot push to {api.endpoint}"):
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=f"vaegan export of {Path(run).resolve().name} at step {step:,}",
            )
    return str(url)


def download(ref: str) -> Path:
    """The model folder of Hub repository "OWNER/NAME[@REVISION]", fetched into (or found in)
    huggingface_hub's cache."""
    parsed = parse_repo_id(ref)
    if parsed is None:
        raise VaeganError(f"{ref}: neither a folder here nor a Hub repository id (OWNER/NAME)")
    hf = require_hub(f"{ref}: not a folder here; loading it from the Hugging Face Hub")
    repo_id, revision = parsed
    with hub_call(f"{ref}: not a folder here, and not loadable from the Hub"):
        folder = hf.snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=LOAD_FILES,
            endpoint=endpoint(),
            library_name="vaegan",
        )
    return Path(folder)
