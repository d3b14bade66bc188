"""Dec as one ONNX file (`vaegan export --onnx`), for runtimes without torch."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from vaegan.errors import VaeganError
from vaegan.models import VAEGAN, evaluating

ONNX_HINT = 'pip install "vaegan[onnx]"'


def require_onnx() -> None:
    """Fail before any work if the ONNX exporter's packages are missing."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch's dynamo exporter writes through it)
    except ImportError:
        raise VaeganError(f"--onnx needs the onnx packages: {ONNX_HINT}") from None


class DecoderGraph(nn.Module):
    """Dec with fixed inputs for the exporter: z (B, z_dim), and y (B, K) in conditional models."""

    def __init__(self, dec: nn.Module) -> None:
        super().__init__()
        self.dec = dec

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] from z (B, z_dim) and, if conditional, y (B, K)."""
        return self.dec(z, y)


def export_decoder_onnx(model: VAEGAN, file: Path) -> None:
    """Dec as inference uses it (its moving average, if kept; BN on running statistics) as one
    ONNX file, weights inside, with a dynamic batch axis."""
    m = model.cfg
    dec = model.inference_network("dec")
    z = torch.zeros(2, m.z_dim, device=model.device)
    args: tuple[Tensor, ...] = (z,)
    names = ["z"]
    if m.conditional:
        args += (torch.zeros(2, m.condition_dim, device=model.device),)
        names.append("y")
    batch = torch.export.Dim("batch")
    with evaluating(dec), quiet_exporter():
        torch.onnx.export(
            DecoderGraph(dec),
            args,
            str(file),
            input_names=names,
            output_names=["x"],
            dynamic_shapes={name: {0: batch} for name in names},
            external_data=False,  # one self-contained file
            dynamo=True,
            verbose=False,  # no progress lines on stdout
        )


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notices (torchvision's missing ops, deprecations), which say
    nothing about the decoder."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
