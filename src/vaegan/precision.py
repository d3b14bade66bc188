"""Mixed precision for the training step: autocast for the forward, a gradient scaler for fp16.

fp32 is the default and the reference. bf16 needs no scaler (its exponent range is fp32's); fp16
scales every loss before its gradient is taken, and each optimizer step unscales, skipping the
step when a gradient overflowed (torch.amp.GradScaler), with one update of the scale per step.
"auto" is bf16 where the hardware computes in it natively (CUDA GPUs with bf16, CPUs with AMX),
fp32 elsewhere: on a CPU without AMX, bf16 is emulated and many times slower (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
CPUINFO = "/proc/cpuinfo"


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX's bf16 tile instructions (Linux's cpuinfo flag amx_bf16)."""
    try:
        with open(CPUINFO) as f:
            return any(line.startswith("flags") and " amx_bf16" in line for line in f)
    except OSError:  # not Linux: assume not
        return False


def resolve_precision(name: str, device: torch.device | str) -> str:
    """`name`, with "auto" made bf16 where `device` computes in bf16 natively, else fp32."""
    if name != "auto":
        return name
    device = torch.device(device)
    if device.type == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch before 2.4 had no emulation to leave out
            native = torch.cuda.is_bf16_supported()
    else:
        native = device.type == "cpu" and cpu_has_amx()
    return "bf16" if native else "fp32"


class Precision:
    """`train.precision` (fp32, bf16, fp16, auto): the forward's autocast, and fp16's loss
    scaler. `name` is the precision in use ("auto" resolved for `device`)."""

    def __init__(
        self, name: str = "fp32", device: torch.device | str = "cpu", init_scale: float = 2.0**16
    ) -> None:
        name = resolve_precision(name, device)
        self.name = name
        self.device_type = torch.device(device).type
        self.dtype = DTYPES[name]
        self.scaler = (
            torch.amp.GradScaler(self.device_type, init_scale=init_scale)
            if name == "fp16"
            else None
        )

    def autocast(self) -> AbstractContextManager:
        """Autocast to bf16/fp16 on the run's device type; a no-op context for fp32."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scale(self, loss: Tensor) -> Tensor:
        """The loss times the fp16 loss scale, before its gradient is taken; unchanged otherwise."""
        return self.scaler.scale(loss) if self.scaler else loss

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step `optimizer`; under fp16 its gradients are unscaled first, and the step is skipped if
        one is inf or NaN."""
        if self.scaler:
            self.scaler.step(optimizer)  # unscales its gradients; skips the step on inf/NaN
        else:
            optimizer.step()

    def update(self) -> None:
        """Adjust the fp16 loss scale, once per step after the optimizers; a no-op otherwise."""
        if self.scaler:
            self.scaler.update()

    def state_dict(self) -> dict | None:
        """The fp16 scaler's state, for the checkpoint's trainer.json; None without a scaler."""
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict | None) -> None:
        """Restore the scaler saved by `state_dict`; ignored without a scaler or a saved state."""
        if self.scaler and state:
            self.scaler.load_state_dict(state)


FP32 = Precision()
