"""Fixtures: a temporary cache and a fresh logger for every test, a tiny IDX data set; one torch
thread."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from helpers import write_idx_dataset

# Tiny models gain nothing from intra-op threads, and two busy threads per test process
# oversubscribe a 2-core CI machine as soon as anything else runs.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_cache(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Data and feature caches go to a temporary folder, never the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))
    return session_cache / "vaegan"


@pytest.fixture(autouse=True)
def fresh_logger():
    """Each test starts with the "vaegan" logger as a fresh process has it: no CLI handler, no
    level (a `main([... "--log-level", "error"])` in one test must not hide another's warnings)."""
    logger = logging.getLogger("vaegan")
    yield
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    return write_idx_dataset(tmp_path / "fashion")


@pytest.fixture(scope="module")
def idx_dir_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny IDX data set, shared by a module's tests."""
    return write_idx_dataset(tmp_path_factory.mktemp("fashion"))
