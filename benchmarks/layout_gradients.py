"""How far the "fused" layout's gradients are from the code's, per network, on real batches.

    python benchmarks/layout_gradients.py                     # width 0.25 and 1, 5 batches each
    python benchmarks/layout_gradients.py --steps 500         # also after 500 steps of training

The code's layout runs Dec on Z alone for L_llike and again on [Z; Z_p] for L_GAN, Dis_l on
[X_tilde; X] and Dis on [X; Dec(Z); Dec(Z_p)]; "fused" runs Dec once on [Z; Z_p] and Dis once on
[X; X_tilde; X_p]. Same weights, same batch, same noise: the printed numbers are the cosine between
the two layouts' gradients of each network, and the ratio of their norms (fused / code). With
--steps, the model first trains that long in the code's layout (paper settings otherwise).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import torch
import torch.nn.functional as F

from vaegan.config import LossConfig, ModelConfig, OptimConfig
from vaegan.data import load_dataset
from vaegan.data.batches import Batches
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers
from vaegan.step import step_gradients, train_step


def layout_gradients(model: VAEGAN, x: torch.Tensor, cfg: LossConfig, layout: str) -> dict:
    """Each network's flattened gradient under one layout; BN buffers restored afterwards."""
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = replace(cfg, layout=layout, margin=None)  # every network's gradient, ungated
    grads, _, _ = step_gradients(model, x, cfg, torch.Generator().manual_seed(0))
    model.load_state_dict(buffers)
    return {name: torch.cat([g.flatten() for g in gs]) for name, gs in grads.items()}


def compare(model: VAEGAN, batches: Batches, cfg: LossConfig, n: int, offset: int) -> dict:
    rows: dict[str, list[tuple[float, float]]] = {}
    for i in range(n):
        x = batches(offset + i)
        code, fused = (layout_gradients(model, x, cfg, k) for k in ("code", "fused"))
        for name in code:
            cos = float(F.cosine_similarity(code[name], fused[name], dim=0))
            rows.setdefault(name, []).append((cos, float(fused[name].norm() / code[name].norm())))
    return {
        name: (statistics.mean(c for c, _ in v), statistics.mean(r for _, r in v))
        for name, v in rows.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--widths", default="0.25,1")
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--steps", type=int, default=0, help="train this long first (code layout)")
    args = p.parse_args()
    data = load_dataset("fashion-mnist", None, "train")
    cfg = LossConfig()  # the paper's: gamma 1e-5, saturating, real weight 0.66
    print("| width | after steps | network | cosine (code, fused) | norm fused / code |")
    print("|---|---|---|---|---|")
    for width in map(float, args.widths.split(",")):
        torch.manual_seed(0)
        model = VAEGAN(ModelConfig(image_size=32, channels=1, width=width))
        batches = Batches(data.images, 64, seed=0, device=torch.device("cpu"))
        optimizers = make_optimizers(model, OptimConfig())
        for step in range(args.steps):
            train_step(model, optimizers, batches(step), cfg, torch.Generator().manual_seed(step))
        result = compare(model, batches, cfg, args.batches, offset=args.steps)
        for name, (cos, ratio) in result.items():
            print(f"| {width:g} | {args.steps} | {name} | {cos:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
