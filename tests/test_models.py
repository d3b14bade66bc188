import math

import pytest
import torch

from vaegan.config import ModelConfig
from vaegan.errors import ConfigError
from vaegan.models import VAEGAN


def test_paper_architecture_at_64x64x3():
    cfg = ModelConfig()  # the paper's CelebA networks (METHOD.md §1)
    assert cfg.enc_channels == (64, 128, 256) and cfg.enc_hidden == 1024
    assert cfg.dec_channels == (256, 128, 32)
    assert cfg.dis_first_channels == 32 and cfg.dis_channels == (128, 256, 256)
    assert cfg.dis_hidden == 512 and cfg.base_size == 8


def test_code_architecture_at_32x32():
    cfg = ModelConfig(image_size=32)  # the code's img32x32
    assert cfg.base_size == 4 and cfg.n_stages == 3
    assert cfg.dec_channels == (192, 128, 32) and cfg.dis_channels == (128, 192, 256)


@pytest.mark.parametrize("size,channels", [(32, 1), (32, 3), (64, 3), (16, 1)])
def test_shapes(size, channels):
    cfg = ModelConfig(image_size=size, channels=channels, z_dim=6, width=0.125)
    model = VAEGAN(cfg)
    x = torch.rand(4, channels, size, size) * 2 - 1
    mu, logvar = model.enc(x)
    assert mu.shape == logvar.shape == (4, 6)
    x_tilde = model.dec(mu)
    assert x_tilde.shape == x.shape and x_tilde.abs().max() <= 1
    features, logit = model.dis(x)
    assert logit.shape == (4,)
    side = cfg.base_size  # last conv's map
    assert features.shape == (4, cfg.dis_channels[-1], side, side)


def test_feature_layer_is_conv_output_before_bn():
    model = VAEGAN(ModelConfig(image_size=32, channels=1, z_dim=4, width=0.125)).train()
    x = torch.rand(8, 1, 32, 32)
    features, _ = model.dis(x)
    h = x
    for conv, norm in zip(model.dis.convs[:-1], model.dis.norms[:-1], strict=True):
        h = torch.relu(norm(conv(h)))
    # the 4th conv's raw output: not batch-normalised, not rectified
    assert torch.allclose(features, model.dis.convs[3](h), atol=1e-6)
    assert (features < 0).any()


def test_feature_conv_is_configurable_and_checked():
    model = VAEGAN(ModelConfig(image_size=32, channels=1, z_dim=4, width=0.125, feature_conv=1))
    features, _ = model.dis(torch.rand(2, 1, 32, 32))
    assert features.shape[-1] == 16
    with pytest.raises(ConfigError, match="feature_conv"):
        ModelConfig(image_size=32, feature_conv=4)


def test_variants_hold_their_networks():
    nets = {
        v: set(VAEGAN(ModelConfig(variant=v, image_size=16, z_dim=4, width=0.125)).networks())
        for v in ("vaegan", "vae", "gan", "vae_disl")
    }
    assert nets == {
        "vaegan": {"enc", "dec", "dis"},
        "vae": {"enc", "dec"},
        "gan": {"dec", "dis"},
        "vae_disl": {"enc", "dec", "dis"},
    }


def test_inference_uses_running_statistics_and_restores_mode():
    model = VAEGAN(ModelConfig(image_size=16, channels=1, z_dim=4, width=0.125)).train()
    x = torch.rand(3, 1, 16, 16)
    z = model.encode(x)
    assert model.training  # mode restored
    assert z.shape == (3, 4)
    # eval-mode encoding of one image does not depend on the rest of the batch
    assert torch.allclose(model.encode(x)[0], model.encode(x[:1])[0], atol=1e-6)


def test_autofiller_initialisation_as_deeppys():
    """U(-a, a), a = 1 / sqrt(3 fan_in), with deeppy's fan_in: c_in k k for a conv, c_out k k for
    a transposed conv, the inputs of an FC layer; zero biases."""
    torch.manual_seed(0)
    model = VAEGAN(ModelConfig(image_size=64, channels=3))
    checked = 0
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            w = m.weight.detach()
            if isinstance(m, torch.nn.Linear):
                fan_in = w.shape[1]
            elif isinstance(m, torch.nn.ConvTranspose2d):
                fan_in = m.out_channels * 25
            else:
                fan_in = m.in_channels * 25
            a = 1 / math.sqrt(3 * fan_in)
            assert float(w.abs().max()) <= a * (1 + 1e-6)  # float32 rounding of the bound
            if w.numel() > 10_000:  # std a / sqrt(3), to 3 % on large tensors
                assert float(w.std()) == pytest.approx(a / math.sqrt(3), rel=0.03)
                assert float(w.abs().max()) > 0.99 * a  # uniform, not normal
            if m.bias is not None:
                assert not m.bias.any()
            checked += 1
    assert checked == 16  # Enc 3 convs + 2 FC, Dec FC + 3 convT + conv, Dis 4 convs + 2 FC
    # Xavier, the former default, is about 4x wider on Enc's FC layer (16,384 -> 1,024)
    torch.manual_seed(0)
    xavier = VAEGAN(ModelConfig(image_size=64, channels=3, init="xavier"))
    fc = [m for m in model.enc.body if isinstance(m, torch.nn.Linear)][0].weight
    fc_xavier = [m for m in xavier.enc.body if isinstance(m, torch.nn.Linear)][0].weight
    assert float(fc_xavier.detach().std() / fc.detach().std()) == pytest.approx(4.1, rel=0.05)


def test_several_feature_layers_are_concatenated():
    cfg = ModelConfig(image_size=32, channels=1, z_dim=4, width=0.125, feature_conv=(2, 0))
    assert cfg.feature_convs == (0, 2)
    model = VAEGAN(cfg)
    x = torch.rand(3, 1, 32, 32)
    features, _ = model.dis(x)
    first = model.dis.convs[0](x)  # conv 0's output, before any ReLU
    one = VAEGAN(ModelConfig(image_size=32, channels=1, z_dim=4, width=0.125, feature_conv=2))
    one.load_state_dict(model.state_dict())
    third, _ = one.dis(x)
    assert torch.equal(features, torch.cat([first.flatten(1), third.flatten(1)], dim=1))
    assert torch.equal(model.dis.features(x), features)
    with pytest.raises(ConfigError, match="feature_conv"):
        ModelConfig(image_size=32, feature_conv=(0, 4))
