"""The latent explorer: its API over a real uvicorn server, and the page in headless Chromium."""

import io
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch
import uvicorn
from PIL import Image

from vaegan.checkpoint import save_checkpoint
from vaegan.explorer.app import create_app
from vaegan.explorer.space import LatentSpace
from vaegan.models import VAEGAN

from helpers import tiny_config, write_idx_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An untrained but z-sensitive model (Xavier init) served on a free port of 127.0.0.1."""
    root = tmp_path_factory.mktemp("explorer")
    data = write_idx_dataset(root / "data", n_train=64, n_test=40)
    cfg = tiny_config(data)
    cfg = replace(cfg, model=replace(cfg.model, init="xavier", width=0.125, z_dim=16))
    torch.manual_seed(0)
    (root / "run").mkdir()
    save_checkpoint(root / "run", VAEGAN(cfg.model), {}, cfg, step=0)
    cfg.save(root / "run/config.json")
    space = LatentSpace(root / "run", torch.device("cpu"), cache_dir=root / "cache")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(space), host="127.0.0.1", port=port, log_level="error")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", root
    running.should_exit = True
    thread.join(timeout=10)


def call(url, body=None, data=None, headers=None):
    """(status, bytes) of a GET, a JSON POST (body) or a raw POST (data)."""
    if body is not None:
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def multipart(name, content, content_type="image/png"):
    boundary = "vaegan-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(content):
    return np.asarray(Image.open(io.BytesIO(content)))


def test_info_lists_class_and_principal_sliders(server):
    url, _ = server
    status, content = call(f"{url}/api/info")
    info = json.loads(content)
    assert status == 200 and info["image_size"] == 32 and info["test_images"] == 40
    names = [s["name"] for s in info["sliders"]]
    assert "Sneaker" in names and "PC1" in names  # class vectors computed on demand, and PCA


def test_sliders_move_the_image_and_seeds_differ(server):
    url, _ = server
    _, plain = call(f"{url}/api/render", {"base": {"seed": 3}, "sliders": {}})
    _, moved = call(f"{url}/api/render", {"base": {"seed": 3}, "sliders": {"PC1": 3.0}})
    _, again = call(f"{url}/api/render", {"base": {"seed": 3}})
    _, other = call(f"{url}/api/render", {"base": {"seed": 4}})
    assert decoded(plain).shape == (32, 32)
    assert plain == again and plain != moved and plain != other


def test_test_images_uploads_and_interpolation(server):
    url, _ = server
    status, first = call(f"{url}/api/test/0")
    assert status == 200 and decoded(first).shape == (32, 32)
    image = np.zeros((100, 60, 3), np.uint8)  # any size and colour: cropped, resized, grey
    image[30:70, 10:50] = 255
    data, headers = multipart("mine.png", png_bytes(image))
    status, content = call(f"{url}/api/upload", data=data, headers=headers)
    assert status == 200, content
    key = json.loads(content)["id"]
    status, recon = call(f"{url}/api/render", {"base": {"upload": key}, "sliders": {"Bag": 1}})
    assert status == 200 and decoded(recon).shape == (32, 32)
    body = {"a": {"test": 0}, "b": {"upload": key}, "steps": 5, "mode": "linear"}
    status, strip = call(f"{url}/api/interpolate", body)
    assert status == 200 and decoded(strip).shape == (32, 5 * 32)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"base": {"seed": 1}, "sliders": {"Nope": 1}}, "unknown slider 'Nope'"),
        ({"base": {"seed": 1}, "sliders": {"PC1": 99}}, "must be a number in [-5, 5]"),
        ({"base": {"seed": 1}, "sliders": {"PC1": "a"}}, "must be a number"),
        ({"base": {"seed": -1}}, "seed must be a whole number"),
        ({"base": {"test": 10**6}}, "test image must be a whole number in [0, 39]"),
        ({"base": {"upload": "forged"}}, "unknown upload"),
        ({"base": {"seed": 1, "test": 2}}, "base must be one of"),
        ([1, 2], "must be a JSON object"),
        ({"base": {"upload": []}}, "unknown upload"),
    ],
)
def test_bad_render_requests_are_400s_with_a_message(server, body, message):
    url, _ = server
    status, content = call(f"{url}/api/render", body)
    assert status == 400 and message in json.loads(content)["error"]


def test_bad_uploads_are_4xx_with_a_message(server):
    url, _ = server
    cases = [
        (multipart("notes.txt", b"not an image at all", "text/plain"), 400, "cannot decode"),
        (
            multipart("huge.png", png_bytes(np.zeros((4097, 4097), np.uint8))),
            400,
            "4097x4097 pixels, more than",
        ),
        (multipart("big.png", b"x" * (6 * 2**20)), 413, "more than 5,242,880"),
        ((b"garbage", {"Content-Type": "multipart/form-data; boundary=x"}), 400, ""),
    ]
    for (data, headers), status, message in cases:
        got, content = call(f"{url}/api/upload", data=data, headers=headers)
        assert got == status, content
        assert message in json.loads(content)["error"]
    json_type = {"Content-Type": "application/json"}
    assert call(f"{url}/api/render", data=b"{not json", headers=json_type)[0] == 400
    assert call(f"{url}/api/render", data=b"[" * 100_000, headers=json_type)[0] in (400, 413)
    huge = b'{"base": {"seed": ' + b"9" * 5000 + b"}}"  # past Python's integer parse limit
    assert call(f"{url}/api/render", data=huge, headers=json_type)[0] == 400
    status, content = call(
        f"{url}/api/render", data=b'{"base": {"seed": 1}}', headers={"Content-Type": "text/plain"}
    )  # a form of another site
    assert status == 400 and "application/json" in json.loads(content)["error"]


def test_other_host_names_are_refused(server):
    url, _ = server
    request = urllib.request.Request(f"{url}/api/info", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 400


def test_several_clients_at_once(server):
    url, _ = server
    bodies = [{"base": {"seed": i % 4}, "sliders": {"PC2": (i % 3) - 1.0}} for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda b: call(f"{url}/api/render", b), bodies))
    assert all(status == 200 for status, _ in results)
    assert results[0][1] == results[12][1]  # the same request, the same image, whatever ran beside


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install -y chromium")
def test_the_explorer_in_a_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, _ = server
    upload = tmp_path / "mine.png"
    upload.write_bytes(png_bytes(np.full((50, 50), 200, np.uint8)))
    (tmp_path / "notes.txt").write_text("not an image")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url)
        page.wait_for_function("document.getElementById('view').src.startsWith('blob:')")
        before = page.get_attribute("#view", "src")
        page.locator('input[data-name="PC1"]').fill("3")  # fires input: a new render
        page.wait_for_function(f"document.getElementById('view').src !== {json.dumps(before)}")
        assert page.locator('input[data-name="PC1"] + output').text_content() == "3"
        page.set_input_files("#file", str(upload))
        page.wait_for_function("document.getElementById('base').textContent.includes('mine.png')")
        page.set_input_files("#file", str(tmp_path / "notes.txt"))
        page.wait_for_function("document.getElementById('error').textContent.length > 0")
        assert "cannot decode" in page.text_content("#error")
        page.screenshot(path=str(tmp_path / "explorer.png"))
        browser.close()
    assert not errors, errors
