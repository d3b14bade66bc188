"""`vaegan` command line: each subcommand is a thin function over the library, with its flags
(`add_<command>`) beside its handler (`cmd_<command>`) in the module of its kind."""

from __future__ import annotations

import argparse
import os
import sys

from safetensors import SafetensorError

from vaegan import __version__
from vaegan.cli.data import add_data
from vaegan.cli.evaluation import add_evaluate, add_train_evaluator
from vaegan.cli.latent import (
    add_attributes,
    add_edit,
    add_interpolate,
    add_reconstruct,
    add_sample,
    add_walk,
)
from vaegan.cli.runs import (
    add_compare,
    add_export,
    add_finetune,
    add_push,
    add_report,
    add_serve,
)
from vaegan.cli.train import add_config, add_train, build_config
from vaegan.errors import VaeganError
from vaegan.files import os_reason
from vaegan.progress import configure_logging

LOG_LEVELS = ("debug", "info", "warning", "error")
COMMANDS = (
    add_train,
    add_config,
    add_sample,
    add_reconstruct,
    add_interpolate,
    add_walk,
    add_edit,
    add_attributes,
    add_train_evaluator,
    add_evaluate,
    add_data,
    add_compare,
    add_report,
    add_serve,
    add_finetune,
    add_export,
    add_push,
)


def parser() -> argparse.ArgumentParser:
    """The `vaegan` parser: --log-level, --version and one subcommand per entry of COMMANDS."""
    p = argparse.ArgumentParser(
        prog="vaegan", description="VAE/GAN (Larsen et al. 2016): train, sample, reconstruct."
    )
    add_log_level(p, default="info")
    p.add_argument("--version", action="version", version=f"vaegan {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(sub)
    for command in leaf_parsers(p):  # `vaegan train ... --log-level warning` works too
        add_log_level(command, default=argparse.SUPPRESS)
    return p


def add_log_level(p: argparse.ArgumentParser, default: str) -> None:
    """--log-level: how much the library tells on stderr."""
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default,
        help="how much the library tells on stderr (default info; warning: problems only)",
    )


def leaf_parsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of the commands that take no further subcommand (`train`, `config show`...)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [p]
    return [leaf for a in subs for child in a.choices.values() for leaf in leaf_parsers(child)]


def main(argv: list[str] | None = None) -> int:
    """Run `vaegan` on `argv` (default sys.argv). Returns the exit status: 0, 2 after a VaeganError
    or a file error (one line on stderr, no traceback), 130 after Ctrl-C."""
    args = parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        args.func(args)
    except VaeganError as err:
        print(f"vaegan: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (`vaegan config show | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a file system refusing: full, read-only, not a folder...
        where = f"{err.filename}: " if err.filename else ""
        print(f"vaegan: error: {where}{os_reason(err)}", file=sys.stderr)
        return 2
    except SafetensorError as err:
        print(
            f"vaegan: error: a safetensors file could not be read or written ({err})",
            file=sys.stderr,
        )
        return 2
    except MemoryError:
        print(
            "vaegan: error: out of memory; ask for fewer images (--n) or a smaller model",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as err:
        print(f"\nvaegan: {err or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


__all__ = ["build_config", "main", "parser"]
