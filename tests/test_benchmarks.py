"""The benchmark scripts still import what they use from the package (they are not run here)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from vaegan.config import LossConfig, ModelConfig
from vaegan.models import VAEGAN

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(path: Path):
    """Import one script as a module, with benchmarks/ importable (scripts share timing.py)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_each_benchmark_imports(path):
    module = load(path)
    assert path.name == "timing.py" or callable(module.main)


def test_layout_gradients_compares_every_network():
    script = load(BENCHMARKS / "layout_gradients.py")
    torch.manual_seed(0)
    model = VAEGAN(ModelConfig(image_size=16, channels=1, z_dim=6, width=0.125))
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    before = {k: v.clone() for k, v in model.state_dict().items()}
    code = script.layout_gradients(model, x, LossConfig(), "code")
    fused = script.layout_gradients(model, x, LossConfig(), "fused")
    assert set(code) == set(fused) == {"enc", "dec", "dis"}
    assert torch.allclose(code["dis"], fused["dis"])  # Dis sees the same 3B batch either way
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # restored
