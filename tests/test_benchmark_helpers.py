"""Helpers that benchmarks build on still run against the library they import: a renamed
training-loop name or a broken forecaster fails here, in the fast suite, rather than minutes
into a benchmark."""

from __future__ import annotations

import numpy as np


def test_relabel_probe_forward_head_learns_through_a_known_transition():
    from benchmarks.labels_relabel_probe import K, train_forward, transition
    from ops.labels.backbones import BackboneConfig, EmbeddingSource
    from ops.labels.training import predict_proba

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(K), 40)
    x = rng.normal(size=(len(y), 16)).astype(np.float32)
    x[np.arange(len(y)), y] += 4.0  # class c lives along axis c
    flip = rng.random(len(y)) < 0.3  # 30 % of the labels moved to the next class
    given = np.where(flip, (y + 1) % K, y)
    T = transition(y, given)
    assert np.allclose(T.sum(1), 1.0) and np.all(np.diag(T) > 0.5)
    shrunk = transition(y[:20], given[:20], shrink=5.0)
    assert np.allclose(shrunk.sum(1), 1.0) and np.all(shrunk > 0)  # no empty row, no zero

    src = EmbeddingSource(x)
    cfg = BackboneConfig(kind="embeddings", epochs=10, num_threads=1).for_vectors()
    rows = np.arange(len(y))
    model = train_forward(src, rows, given, T, cfg, seed=0)
    acc = np.mean(predict_proba(model, src, rows, cfg).argmax(1) == y)
    assert acc > 0.9  # the clean classes, not the noisy ones


def test_relabel_probe_knn_votes_are_neighbour_label_shares():
    from benchmarks.labels_relabel_probe import K, knn_votes

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(K), 30)
    x = rng.normal(size=(len(y), 24))
    x[np.arange(len(y)), y] += 10.0
    v = knn_votes(x, y, k=5, dims=12)
    assert v.shape == (len(y), K) and np.allclose(v.sum(1), 1.0)
    assert np.mean(v.argmax(1) == y) > 0.95


def test_downstream_forecasters_learn_a_sine_and_are_hurt_by_garbage():
    from benchmarks.tsrating_faults import linear_rmse, mlp_rmse

    t = np.arange(3000)
    x = np.sin(2 * np.pi * t / 50)
    W = np.lib.stride_tricks.sliding_window_view(x, 128)[::4]
    train, test = W[:500], W[500:]
    zero = float(np.sqrt(np.mean(test[:, 96:] ** 2)))
    garbage = np.random.default_rng(0).normal(size=train.shape)
    for fc in (lambda a, b: linear_rmse(a, b), lambda a, b: mlp_rmse(a, b, epochs=20)):
        clean = fc(train, test)
        assert clean < 0.2 * zero
        assert fc(garbage, test) > clean


def test_fresh_split_reads_the_unpacked_wheels_layout(tmp_path):
    """The fresh held-out series are read from the two wheels' own file layout."""
    import gzip
    import io
    import tarfile

    from benchmarks.tsrating_data import fresh_domains

    vega = tmp_path / "vega_datasets" / "_data"
    pmd = tmp_path / "pmdarima" / "datasets"
    (pmd / "data").mkdir(parents=True)
    vega.mkdir(parents=True)
    (vega / "seattle-temps.csv").write_text(
        "date,temp\n2010/01/01 00:00,39.4\n2010/01/01 01:00,39.2\n"
    )
    (vega / "sf-temps.csv").write_text("temp,date\n47.8,2010/01/01 00:00:00\n")
    (vega / "seattle-weather.csv").write_text(
        "date,precipitation,temp_max,temp_min,wind,weather\n2012/01/01,0.0,12.8,5.0,4.7,drizzle\n"
    )
    csv = b"Date,Open,High,Low,Close,Volume,OpenInt\n1986-03-13,0.06,0.07,0.06,0.07,1371330506,0\n"
    with tarfile.open(pmd / "data" / "msft.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("msft.csv")
        info.size = len(csv)
        tar.addfile(info, io.BytesIO(csv))
    (pmd / "taylor.py").write_text(
        "def f():\n    rslt = np.array([\n        22262, 21756,\n        22247])\n"
    )
    with gzip.open(pmd / "data" / "sunspots.txt.gz", "wt") as f:
        f.write(" 58.0  62.6\n 70.0\n")
    d = fresh_domains(tmp_path)
    assert list(d) == ["vega_temps", "seattle_daily", "msft", "taylor", "sunspots_monthly"]
    assert d["vega_temps"][0].values.tolist() == [39.4, 39.2]
    assert [s.name for s in d["seattle_daily"]][-1] == "seattle_daily/wind"
    assert d["msft"][4].values.tolist() == [1371330506.0]
    assert d["taylor"][0].values.tolist() == [22262.0, 21756.0, 22247.0]
    assert d["sunspots_monthly"][0].values.tolist() == [58.0, 62.6, 70.0]
