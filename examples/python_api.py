"""vaegan from Python: train with a callback, then sample, interpolate and optimise a code.

Run it as a script (`python examples/python_api.py`, about 6 minutes on 2 CPU cores: the demo
preset on Fashion-MNIST) or cell by cell (`# %%`) in an editor or Jupyter. The tests run it with
a tiny model for a few steps.
"""

# %% Settings: the demo preset, with whatever the command line changes.
import argparse
from pathlib import Path

import torch

import vaegan
from vaegan.data import load_run_data
from vaegan.images import save_images, to_uint8
from vaegan.latent import interpolate

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("runs/python-api"))
parser.add_argument("--data-dir", help="Fashion-MNIST's files (default: the installed copy)")
parser.add_argument("--steps", type=int, default=3000)
parser.add_argument("--width", type=float, default=0.25)
args = parser.parse_args()

config = vaegan.make_config(
    "demo",
    data="fashion-mnist",
    overrides={
        "train.steps": args.steps,
        "model.width": args.width,
        "data.data_dir": args.data_dir,
    },
)
print(config.model.variant, config.model.z_dim, "z-dims,", config.train.steps, "steps")


# %% Train, hearing of every logging interval and every new grid.
class Losses(vaegan.Callback):
    """Keeps L_llike (the feature-wise reconstruction error) per interval and says where each
    new sample grid is."""

    def __init__(self) -> None:
        self.llike = []

    def on_log(self, step: int, values: dict[str, float]) -> None:
        if "l_llike" in values:
            self.llike.append((step, values["l_llike"]))

    def on_samples(self, step: int, grids: dict[str, Path]) -> None:
        print(f"step {step}: {grids['samples']}")


losses = Losses()
run = args.out / "run"
vaegan.train(config, run, callbacks=[losses], progress=False)
print("L_llike per interval:", [f"{loss:.3f}" for _, loss in losses.llike])

# %% Load the trained model (the device: CUDA, MPS or the CPU) and draw samples.
model = vaegan.load(run)
g = torch.Generator(device=model.device).manual_seed(0)
samples = model.sample(16, generator=g)  # (16, 1, 32, 32) floats in [-1, 1]
save_images(to_uint8(samples), args.out / "samples.png")

# %% Encode two test images (uint8, (N, H, W, C), as the data set holds them) and interpolate.
test = load_run_data(config, "test").images[:2]
z = model.encode(test)
path = interpolate(z[0], z[1], steps=8)
save_images(to_uint8(model.decode(path)), args.out / "interpolation.png", ncol=8)

# %% Latent optimisation: find the code whose decoding best matches an image (grad=True).
target = model.reconstruct(test[:1])  # a target the decoder can reach exactly
code = torch.zeros(1, config.model.z_dim, device=model.device, requires_grad=True)
optimizer = torch.optim.Adam([code], lr=0.05)
first = None
for _ in range(100):
    loss = (model.decode(code, grad=True) - target).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    first = first if first is not None else loss.item()
print(f"latent optimisation: pixel MSE {first:.4f} -> {loss.item():.4f} in 100 Adam steps")
found = model.decode(code.detach())
save_images(to_uint8(torch.cat([target, found])), args.out / "optimised.png")
