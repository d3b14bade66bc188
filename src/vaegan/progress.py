"""Progress and messages: a tqdm bar on a terminal, plain lines through `logging` elsewhere.

Everything the library tells a user goes through the "vaegan" logger; the CLI gives it a handler
(`--log-level`). A bar is drawn only on a terminal (or in a notebook): in a CI log or a nohup
file its carriage returns would be noise, so training logs one line per interval instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger("vaegan")


def interactive() -> bool:
    """Whether a progress bar can redraw in place: stderr is a terminal, or we run in Jupyter."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def bar(iterable: Iterable | None = None, *, enabled: bool = True, **options: Any) -> tqdm:
    """tqdm(iterable, **options), drawn when `enabled` and interactive, else a silent one."""
    return tqdm(iterable, disable=not (enabled and interactive()), **options)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record arrives (pytest swaps it per test)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _Formatter(logging.Formatter):
    """Plain lines for information; "vaegan: warning: ..." for what needs attention."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno == logging.INFO:
            return message
        return f"vaegan: {record.levelname.lower()}: {message}"


def configure_logging(level: str = "info") -> None:
    """The CLI's handler on the "vaegan" logger, at `level` (debug, info, warning, error)."""
    for handler in [h for h in logger.handlers if isinstance(h, _CurrentStderr)]:
        logger.removeHandler(handler)
    handler = _CurrentStderr()
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
