"""Mixed precision for the training step: autocast for the forward, a gradient scaler for fp16.

fp32 is the default and the reference. bf16 needs no scaler (its exponent range is fp32's); fp16
scales every loss before its gradient is taken, and each optimizer step unscales, skipping the
step when a gradient overflowed (torch.amp.GradScaler), with one update of the scale per step.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(
        self, name: str = "fp32", device: torch.device | str = "cpu", init_scale: float = 2.0**16
    ) -> None:
        self.name = name
        self.device_type = torch.device(device).type
        self.dtype = DTYPES[name]
        self.scaler = (
            torch.amp.GradScaler(self.device_type, init_scale=init_scale)
            if name == "fp16"
            else None
        )

    def autocast(self) -> AbstractContextManager:
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scale(self, loss: Tensor) -> Tensor:
        return self.scaler.scale(loss) if self.scaler else loss

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)  # unscales its gradients; skips the step on inf/NaN
        else:
            optimizer.step()

    def update(self) -> None:
        if self.scaler:
            self.scaler.update()

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)


FP32 = Precision()
