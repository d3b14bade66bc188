"""An eager copy of the pinned TorchScript Inception, with each BatchNorm folded into its conv.

The TorchScript file runs every conv as conv -> batch_norm (no scale, eps 1e-3) -> relu and makes
each branch contiguous before concatenating, which costs about a quarter of its CPU time and keeps
TorchScript's freezing from folding the BatchNorms (the conv weights pass through a dtype cast).
The network's structure is read from the loaded modules (their types, children and pooling
arguments), so nothing of its code is copied; tests check that the features agree with the file's.
"""

from __future__ import annotations

import ast
import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaegan.errors import VaeganError

BN_EPS = 1e-3  # the file's batch_norm(..., 0.1, 0.001)
POOL_ARGS = re.compile(r"\(input, (.*)\)")  # the pooling call's arguments after the input


class FoldedConv(nn.Module):
    """conv -> BatchNorm(mean, var, beta; no scale) -> relu, as one conv with a bias, then relu."""

    def __init__(self, layer: torch.jit.ScriptModule) -> None:
        super().__init__()
        weight = layer.weight.detach()
        scale = (layer.var.detach() + BN_EPS).rsqrt()  # (out,)
        out_ch, in_ch, kh, kw = weight.shape
        padding = layer.padding if isinstance(layer.padding, list) else [layer.padding] * 2
        self.conv = nn.Conv2d(in_ch, out_ch, (kh, kw), stride=layer.stride, padding=padding)
        with torch.no_grad():
            self.conv.weight.copy_(weight * scale[:, None, None, None])
            self.conv.bias.copy_(layer.beta.detach() - layer.mean.detach() * scale)

    def forward(self, x: Tensor) -> Tensor:
        """relu(conv(x)), the BatchNorm already folded into the conv's weight and bias."""
        return F.relu(self.conv(x), inplace=True)


class Branches(nn.Module):
    """Inception blocks A-D: each child applied to the input, outputs concatenated (channels)."""

    def __init__(self, children: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(children)

    def forward(self, x: Tensor) -> Tensor:
        """Every branch's output for x, concatenated along channels."""
        return torch.cat([branch(x) for branch in self.branches], 1)


class BlockE(nn.Module):
    """Inception block E: two branches split again into 1x3 and 3x1 convolutions."""

    def __init__(self, block: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.parts = nn.ModuleDict({name: convert(m) for name, m in block.named_children()})

    def forward(self, x: Tensor) -> Tensor:
        """The 1x1 conv, both towers' 1x3 and 3x1 convs and the pool branch, along channels."""
        p = self.parts
        a = p["tower_conv"](x)
        b = p["tower_1_conv_1"](p["tower_1_conv"](x))
        return torch.cat(
            [
                p["conv"](x),
                p["tower_mixed_conv"](a),
                p["tower_mixed_conv_1"](a),
                p["tower_1_mixed_conv"](b),
                p["tower_1_mixed_conv_1"](b),
                p["tower_2_conv"](p["tower_2_pool"](x)),
            ],
            1,
        )


def pool(module: torch.jit.ScriptModule) -> nn.Module:
    """The pooling layer a TorchScript pool module calls, with the arguments in its code."""
    match = POOL_ARGS.search(module.code)
    if match is None:
        raise VaeganError(f"Inception: unexpected pooling code {module.code!r}")
    args = ast.literal_eval(f"[{match.group(1)}]")
    if "_max_pool2d" in module.code:  # kernel, stride, padding, dilation, ceil_mode, indices
        return nn.MaxPool2d(*args[:4], ceil_mode=args[4])
    return nn.AvgPool2d(*args)  # kernel, stride, padding[, ceil_mode, count_include_pad]


def convert(module: torch.jit.ScriptModule) -> nn.Module:
    """Eager module computing what `module` computes (the pinned file's layer types only)."""
    kind = module.original_name
    children = [convert(child) for _, child in module.named_children()]
    if kind == "Conv2dLayer":
        return FoldedConv(module)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return pool(module)
    if kind == "InceptionE":
        return BlockE(module)
    if kind in ("InceptionA", "InceptionB", "InceptionC", "InceptionD"):
        return Branches(children)
    if kind == "Sequential":
        return nn.Sequential(*children)
    if kind == "InceptionV3":  # (N, 2048, 1, 1) after the last pool -> (N, 2048)
        return nn.Sequential(*children, nn.Flatten(1))
    if kind == "WrapNet":
        return children[0]
    raise VaeganError(f"Inception: unexpected layer type '{kind}' in the TorchScript file")
