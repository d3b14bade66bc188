"""Named run configurations shipped with the package: `vaegan train --preset NAME`.

    paper    the authors' code's training (commit 1906387) and nothing else: docs/DEVIATIONS.md
    demo     what `make demo` trains: the quality recipe for 3,000 steps of batch 32, in bf16 where
             the hardware has it (4-6 minutes on 2 CPU cores, docs/DEMO.md)
    quality  the best recipe measured per unit of compute (docs/QUALITY.md), for 18,000 steps

Each is a partial config: what it leaves out keeps its default, and the data set's image shape
is added when the run starts (the CLI's --data).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from vaegan.errors import ConfigError

PRESETS = ("paper", "demo", "quality")


def preset(name: str) -> dict[str, Any]:
    """The partial config of a named preset, as a dict."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())
