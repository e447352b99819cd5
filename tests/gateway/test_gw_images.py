"""Image inputs: allowed formats only, structure checked before decoding, bombs and polyglots
refused, EXIF dropped; Hypothesis on the parsers with random and mutated files."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cpmap.gateway import images
from cpmap.gateway.errors import Refusal

SHAPE = (1, 8, 8)
BOUNDS = (0.0, 1.0)
BOTH = ("JPEG", "PNG")


def _img(fmt: str, size: tuple[int, int] = (16, 16), **save: Any) -> bytes:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8), "L")
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def _decode(body: bytes, allowed: tuple[str, ...] = BOTH, declared: str | None = None,
            max_pixels: int = 1_000_000) -> images.Decoded:
    fmt = images.sniff(body, allowed, declared)
    return images.decode(body, fmt, SHAPE, BOUNDS, max_pixels)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))


def test_png_and_jpeg_are_decoded_resized_and_reencoded() -> None:
    for fmt in BOTH:
        out = _decode(_img(fmt))
        assert out.pixels.shape == (64,) and 0 <= out.pixels.min() <= out.pixels.max() <= 1
        assert out.source_size == (16, 16) and out.png.startswith(images.PNG_SIG)


def test_exif_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}
    body = _img("JPEG", exif=exif.tobytes())
    assert b"secret description" in body
    out = _decode(body)
    assert b"secret description" not in out.png
    assert "exif" not in Image.open(io.BytesIO(out.png)).info


@pytest.mark.parametrize(("case", "status"), [
    ("png-to-jpeg-only", 415), ("gif", 415), ("declared-mismatch", 415),
    ("png-trailing-zip", 415), ("jpeg-trailing-script", 415), ("png-truncated", 415),
    ("png-bad-crc", 415), ("jpeg-truncated", 415), ("bomb", 413), ("empty", 415),
    ("text", 415),
])
def test_refused_files(case: str, status: int) -> None:
    png, jpeg = _img("PNG"), _img("JPEG")
    allowed, declared, body = BOTH, None, png
    if case == "png-to-jpeg-only":
        allowed = ("JPEG",)
    elif case == "gif":
        body = _img("GIF")
    elif case == "declared-mismatch":
        body, declared = jpeg, "image/png"
    elif case == "png-trailing-zip":
        body = png + b"PK\x03\x04" + b"\x00" * 26
    elif case == "jpeg-trailing-script":
        body = jpeg + b"<script>alert(1)</script>"
    elif case == "png-truncated":
        body = png[:-20]
    elif case == "png-bad-crc":
        body = png[:40] + bytes([png[40] ^ 1]) + png[41:]
    elif case == "jpeg-truncated":
        body = jpeg[: len(jpeg) // 2]
    elif case == "bomb":  # IHDR claims 50000 x 50000; the IDAT is never inflated
        ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
        body = (images.PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(
            b"\x00" * 1000)) + _chunk(b"IEND", b""))
    elif case == "empty":
        body = b""
    elif case == "text":
        body = b"hello, not an image"
    with pytest.raises(Refusal) as e:
        _decode(body, allowed, declared)
    assert e.value.status == status


def test_real_decompression_bomb_is_refused_from_the_header() -> None:
    body = _img("PNG", size=(3000, 3000))  # 9 Mpx of zeros compress to a few KB
    with pytest.raises(Refusal) as e:
        _decode(body, max_pixels=1_000_000)
    assert e.value.status == 413 and "3000x3000" in e.value.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_parsers(body: bytes) -> None:
    for prefix in (b"", images.PNG_SIG, b"\xff\xd8\xff\xe0"):
        try:
            _decode(prefix + body)
        except Refusal as e:
            assert e.status in (413, 415)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BOTH), st.integers(0, 10_000), st.integers(0, 255),
       st.integers(0, 64))
def test_mutated_images_decode_or_are_refused(fmt: str, pos: int, value: int,
                                              cut: int) -> None:
    body = bytearray(_img(fmt))
    body[pos % len(body)] = value
    data = bytes(body[: len(body) - cut])
    try:
        out = _decode(data)
        assert out.pixels.shape == (64,)
    except Refusal as e:
        assert e.status in (413, 415)


def test_images_over_http(gated: Any, serve: Any, key: Any) -> None:
    k = key(output="full")
    gw = serve(image_formats=("JPEG",))
    url = gw.url + "/v2/models/digits/infer"
    with httpx.Client(timeout=10) as c:
        h = {"X-API-Key": k}
        r = c.post(url, content=_img("JPEG"), headers={**h, "Content-Type": "image/jpeg"})
        assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [1, 10]
        r = c.post(url, content=_img("PNG"), headers={**h, "Content-Type": "image/png"})
        assert r.status_code == 415
        b64 = base64.b64encode(_img("JPEG")).decode()
        r = c.post(url, json={"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1],
                                          "data": [b64]}]}, headers=h)
        assert r.status_code == 200
        r = c.post(url, json={"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1],
                                          "data": ["%%%"]}]}, headers=h)
        assert r.status_code == 400


def _rgb(fmt: str, pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format=fmt)
    return buf.getvalue()


def test_rgb_images_decode_channel_first_in_the_training_range() -> None:
    px = np.zeros((4, 4, 3), np.uint8)
    px[..., 0], px[..., 1], px[..., 2] = 255, 0, 51  # red, no green, 20% blue
    body = _rgb("PNG", px)
    out = images.decode(body, images.sniff(body, BOTH, None), (3, 4, 4), (-1.0, 1.0), 10_000)
    chw = out.pixels.reshape(3, 4, 4)
    np.testing.assert_allclose(chw[0], 1.0)
    np.testing.assert_allclose(chw[1], -1.0)
    np.testing.assert_allclose(chw[2], -0.6, atol=1e-6)
    grey = _img("PNG", (8, 8))  # a grey image sent to a colour model: three equal channels
    rows = images.decode(grey, "PNG", (3, 4, 4), BOUNDS, 10_000).pixels.reshape(3, 4, 4)
    np.testing.assert_allclose(rows[0], rows[1])
    np.testing.assert_allclose(rows[1], rows[2])
    assert Image.open(io.BytesIO(out.png)).mode == "RGB"  # re-encoded: pixels only


@pytest.fixture(scope="module")
def rgb_model() -> bytes:
    import torch

    from cpmap.models.datasets import Dataset
    from cpmap.models.persist import model_bytes as to_bytes
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (120, 48)).astype(np.float32)
    y = (x[:, :16].mean(axis=1) > x[:, 16:32].mean(axis=1)).astype(np.int64)  # red > green
    ds = Dataset("rgb", "1" * 64, x, y, ("green", "red"), image_shape=(3, 4, 4))
    return to_bytes(train(ds, TrainConfig(arch="mlp", hidden=(16,), epochs=2)).model)[0]


def test_an_rgb_model_takes_colour_jpeg_and_png(ws: Any, tmp_path: Any, rgb_model: bytes,
                                                serve: Any, key: Any) -> None:
    from tests.gateway.conftest import register_gated

    from cpmap.models.persist import load_bytes

    register_gated(ws, tmp_path, rgb_model, name="rgb")
    token = key("painter", scopes=("infer:rgb",), output="full")
    gw = serve("rgb@1")
    px = np.zeros((4, 4, 3), np.uint8)
    px[..., 0] = 250
    h = {"Authorization": f"Bearer {token}"}
    meta = httpx.get(f"{gw.url}/v2/models/rgb", headers=h).json()
    assert meta["inputs"][0]["shape"] == [-1, 48]
    want = load_bytes(rgb_model, "m").predict_proba(
        (px.astype(np.float32) / 255).transpose(2, 0, 1).reshape(1, -1))
    for fmt, ctype in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        r = httpx.post(f"{gw.url}/v2/models/rgb/infer", content=_rgb(fmt, px),
                       headers={**h, "Content-Type": ctype})
        assert r.status_code == 200, r.text
        got = np.asarray(r.json()["outputs"][0]["data"]).reshape(1, 2)
        np.testing.assert_allclose(got, want, atol=0.02 if fmt == "JPEG" else 1e-5)
    b64 = base64.b64encode(_rgb("PNG", px)).decode()
    r = httpx.post(f"{gw.url}/v2/models/rgb/infer", headers=h, json={"inputs": [
        {"name": "input", "datatype": "BYTES", "shape": [1], "data": [b64]}]})
    assert r.status_code == 200, r.text
