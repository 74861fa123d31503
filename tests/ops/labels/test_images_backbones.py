import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from ops.device import resolve_device
from ops.labels.backbones import BackboneConfig, SmallCNN, load_embeddings
from ops.labels.images import ArrayImageDataset, ImageFileDataset, ImageSpec, scan_channels
from ops.labels.training import augment_batch, predict_proba, train_model


def _write(tmp_path, arrs, mode):
    paths = []
    for i, a in enumerate(arrs):
        p = tmp_path / f"{i}.png"
        Image.fromarray(a, mode=mode).save(p)
        paths.append(p)
    return paths


def test_file_dataset_grey_resize_and_stream(tmp_path):
    rng = np.random.default_rng(0)
    paths = _write(
        tmp_path, [rng.integers(0, 255, (20, 12), dtype=np.uint8) for _ in range(4)], "L"
    )
    assert scan_channels(paths) == 1
    ds = ImageFileDataset(paths, ImageSpec(size=16), cache=False)
    x, i = ds[2]
    assert x.dtype == torch.uint8 and tuple(x.shape) == (1, 16, 16) and i == 2
    assert ds._cache is None  # streaming: nothing kept
    b = ds.get_batch(np.array([3, 0]))
    assert tuple(b.shape) == (2, 1, 16, 16)
    cached = ImageFileDataset(paths, ImageSpec(size=16), cache=True)
    assert torch.equal(cached.get_batch(np.array([3, 0])), b)
    assert cached.fingerprint() == ds.fingerprint()


def test_file_dataset_mixed_is_rgb(tmp_path):
    rng = np.random.default_rng(0)
    p1 = _write(tmp_path, [rng.integers(0, 255, (8, 8), dtype=np.uint8)], "L")
    p2 = tmp_path / "c.png"
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), mode="RGB").save(p2)
    ds = ImageFileDataset(p1 + [p2], ImageSpec(size=32))
    assert ds.channels == 3 and tuple(ds[0][0].shape) == (3, 32, 32)


def test_array_dataset_layouts():
    a = np.zeros((5, 8, 8), np.uint8)
    assert ArrayImageDataset(a).shape == (1, 8, 8)
    b = np.zeros((5, 32, 32, 3), np.uint8)
    assert ArrayImageDataset(b).shape == (3, 32, 32)
    assert ArrayImageDataset(b, size=16).shape == (3, 16, 16)
    f = np.full((2, 16, 16), 1.0, np.float32)
    assert ArrayImageDataset(f).data.max() == 255


@pytest.mark.parametrize("side", [8, 16, 32])
def test_small_cnn_sizes(side):
    m = SmallCNN(3, 10, width=32)
    n = sum(p.numel() for p in m.parameters())
    assert 80_000 < n < 300_000
    assert tuple(m(torch.zeros(2, 3, side, side)).shape) == (2, 10)


def test_augment_keeps_shape_and_content():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    y = augment_batch(x, 1, False, g)
    assert y.shape == x.shape
    y0 = augment_batch(x, 0, True, g)
    for i in range(2):
        assert torch.equal(y0[i], x[i]) or torch.equal(y0[i], x[i].flip(-1))


def test_train_custom_factory_and_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    centers = rng.normal(size=(3, 6)) * 4
    v = centers[y] + rng.normal(size=(120, 6))
    df = pl.DataFrame(
        {"image": [f"i{k}" for k in range(120)], **{f"emb_{j}": v[:, j] for j in range(6)}}
    )
    df.write_parquet(tmp_path / "e.parquet")
    src = load_embeddings(tmp_path / "e.parquet", [f"i{k}" for k in reversed(range(120))])
    yy = y[::-1].copy()
    cfg = BackboneConfig(kind="embeddings", epochs=5, min_steps=50, batch_size=32)
    model = train_model(src, np.arange(120), yy, 3, cfg)
    p = predict_proba(model, src, np.arange(120), cfg)
    assert p.shape == (120, 3) and np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == yy).mean() > 0.9

    calls = []

    def factory(in_ch, n_cls):
        calls.append((in_ch, n_cls))
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_ch * 8 * 8, n_cls))

    ds = ArrayImageDataset(rng.integers(0, 255, (40, 8, 8), dtype=np.uint8))
    cfg2 = BackboneConfig(
        kind="custom", model_factory=factory, epochs=1, min_steps=2, batch_size=16
    )
    m2 = train_model(ds, np.arange(40), rng.integers(0, 4, 40), 4, cfg2)
    assert calls == [(1, 4)] and predict_proba(m2, ds, np.arange(3), cfg2).shape == (3, 4)
    assert "model_id" in cfg2.identity() and "factory" in cfg2.identity()["model_id"]


def test_backbone_config_errors():
    with pytest.raises(ValueError, match="kind"):
        BackboneConfig(kind="resnet")
    with pytest.raises(ValueError, match="model_factory"):
        BackboneConfig(kind="custom")
    with pytest.raises(ValueError, match="epochs"):
        BackboneConfig(epochs=0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "cuda")
