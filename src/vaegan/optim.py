"""One optimizer per network, the code's learning-rate schedule, and the weights' moving average.

The code (METHOD.md §3): RMSProp, lr 0.02/64 annealed once per epoch by deeppy's
GammaAnnealer, lr_e = start - (e / E)^0.75 (start - stop), stop 1e-5/64, E = 150 epochs of 250
batches; weight decay on conv/FC weights but not on biases, BN or Enc's mu/logvar head.
"""

from __future__ import annotations

import torch
from torch import nn

from vaegan.config import OptimConfig
from vaegan.models import VAEGAN


def decayed_parameters(model: VAEGAN, name: str) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(with weight decay, without) of one network, each in parameters() order: decay on conv and
    FC weights, none on biases, BN and Enc's mu/logvar head (the code)."""
    net = model.networks()[name]
    exempt = {id(p) for p in net.head.parameters()} if name == "enc" else set()
    params = list(net.parameters())
    decay = [p for p in params if p.ndim > 1 and id(p) not in exempt]
    chosen = {id(p) for p in decay}
    return decay, [p for p in params if id(p) not in chosen]


def base_lr(cfg: OptimConfig, name: str) -> float:
    """The unannealed learning rate of one network: Dis may have its own (two time-scales)."""
    return cfg.lr_dis if name == "dis" and cfg.lr_dis is not None else cfg.lr


def make_optimizers(model: VAEGAN, cfg: OptimConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per network, with the decay split of `decayed_parameters`."""
    optimizers = {}
    for name in model.networks():
        decay, no_decay = decayed_parameters(model, name)
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        lr = base_lr(cfg, name)
        if cfg.optimizer == "rmsprop":
            optimizers[name] = torch.optim.RMSprop(groups, lr=lr, alpha=cfg.rmsprop_alpha)
        else:
            optimizers[name] = torch.optim.Adam(groups, lr=lr, betas=cfg.adam_betas)
    return optimizers


def lr_factor(cfg: OptimConfig, step: int, total_steps: int) -> float:
    """lr at `step` (0-based) as a fraction of the start lr.

    "gamma": the epoch e = step // epoch_steps of E = total_steps / epoch_steps gets
    lr - (e / E)^lr_gamma (lr - lr_final), as deeppy's GammaAnnealer(lr, lr_final, E, lr_gamma)
    at epoch e. A run resumed with more steps stretches the rest of its schedule.
    """
    if cfg.schedule == "constant":
        return 1.0
    epochs = total_steps / cfg.epoch_steps
    progress = min(1.0, (step // cfg.epoch_steps) / epochs)
    lr = cfg.lr - progress**cfg.lr_gamma * (cfg.lr - cfg.lr_final)
    return lr / cfg.lr


def set_learning_rates(
    optimizers: dict[str, torch.optim.Optimizer], cfg: OptimConfig, step: int, total_steps: int
) -> None:
    """Set each optimizer's lr to its network's base_lr times lr_factor at `step` (METHOD.md §3)."""
    factor = lr_factor(cfg, step, total_steps)
    for name, optimizer in optimizers.items():
        for group in optimizer.param_groups:
            group["lr"] = base_lr(cfg, name) * factor


@torch.no_grad()
def update_average(model: VAEGAN, step: int) -> None:
    """Move the averaged Enc/Dec towards the trained ones after `step` (0-based) steps.

    Decay min(ema_decay, (1 + t) / (10 + t)) at t = step + 1, so the average follows closely at
    first instead of remembering the random start. BN buffers are copied, not averaged.
    """
    decay = model.cfg.ema_decay
    if decay is None:
        return
    t = step + 1
    decay = min(decay, (1 + t) / (10 + t))
    for name, averaged in model.averaged.items():
        trained = model.networks()[name]
        torch._foreach_lerp_(list(averaged.parameters()), list(trained.parameters()), 1 - decay)
        for kept, buffer in zip(averaged.buffers(), trained.buffers(), strict=True):
            kept.copy_(buffer)
