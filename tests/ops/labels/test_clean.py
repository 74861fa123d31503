"""End to end on real data: sklearn digits written as PNG files, 20 % symmetric noise."""

import numpy as np
import polars as pl
import pytest
from PIL import Image

from ops.labels import ImageSpec, LabelCleaningConfig, clean_labels, draw_trusted, symmetric_noise

CLASSES = [f"d{i}" for i in range(10)]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from sklearn.datasets import load_digits

    d = load_digits()
    root = tmp_path_factory.mktemp("digits")
    x = (d.images / 16 * 255).round().astype(np.uint8)
    y = d.target.astype(np.int64)
    for i, img in enumerate(x):
        Image.fromarray(img, mode="L").save(root / f"{i:04d}.png")
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    train_rows = np.flatnonzero(~test)
    trusted = np.zeros(len(y), bool)
    trusted[train_rows[draw_trusted(y[train_rows], 10, seed=0)]] = True
    pool = ~test & ~trusted
    noisy = y.copy()
    noise = symmetric_noise(y[pool], 0.2, 10, seed=1)
    noisy[pool] = noise.labels
    manifest = pl.DataFrame(
        {
            "image": [f"{i:04d}.png" for i in range(len(y))],
            "label": [CLASSES[c] for c in noisy],
            "trusted": trusted,
            "split": np.where(test, "test", "train").tolist(),
        }
    )
    return {
        "root": root,
        "manifest": manifest,
        "y": y,
        "noisy": noisy,
        "pool": pool,
        "rate": noise.actual_rate,
        "cache": tmp_path_factory.mktemp("oof_cache"),
    }


def _cfg(**kw):
    return LabelCleaningConfig.tiny(image=ImageSpec(size=8), **kw)


def _check_frame(frame, d):
    m = d["manifest"]
    assert frame.height == m.height
    assert frame["image"].to_list() == m["image"].to_list()
    assert frame.columns == [
        "image",
        "given_label",
        "clean_label",
        "label_quality",
        "is_label_issue",
        "action",
        "method",
    ] + [f"prob_{c}" for c in CLASSES] + ["trusted", "split"]
    assert frame["given_label"].to_list() == m["label"].to_list()
    protected = frame.filter(pl.col("trusted") | (pl.col("split") == "test"))
    assert protected.height == int((~d["pool"]).sum())
    assert (protected["clean_label"] == protected["given_label"]).all()
    assert (protected["action"] == "kept").all() and not protected["is_label_issue"].any()
    assert set(frame["action"].unique().to_list()) <= {"kept", "relabeled", "dropped"}
    q = frame["label_quality"].to_numpy()
    assert q.min() >= 0 and q.max() <= 1
    probs = frame.select([f"prob_{c}" for c in CLASSES]).to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-6)
    # a relabeled row changes its label and is flagged; kept/dropped rows keep their given label
    relab = frame["action"].to_numpy() == "relabeled"
    assert np.all(frame["clean_label"].to_numpy()[relab] != frame["given_label"].to_numpy()[relab])
    assert frame["is_label_issue"].to_numpy()[relab].all()
    same = ~relab
    assert np.array_equal(
        frame["clean_label"].to_numpy()[same], frame["given_label"].to_numpy()[same]
    )


def _precision_recall(frame, d):
    flag = frame["is_label_issue"].to_numpy()
    err = (d["noisy"] != d["y"]) & d["pool"]
    tp = np.sum(flag & err)
    return tp / max(flag.sum(), 1), tp / err.sum()


def test_oof_flags_injected_noise_and_caches(digits):
    assert 0.15 < digits["rate"] < 0.25
    msgs = []
    assert LabelCleaningConfig().method == "cleanlab_oof"
    frame, s = clean_labels(
        digits["manifest"],
        digits["root"],
        CLASSES,
        config=_cfg(),
        cache_dir=digits["cache"],
        progress=msgs.append,
    )
    _check_frame(frame, digits)
    prec, rec = _precision_recall(frame, digits)
    assert rec >= 0.7 and prec >= 0.7, (prec, rec)
    assert s.method == "cleanlab_oof" and s.oof_cache_hit is False
    assert s.n_issues >= s.n_relabeled + s.n_dropped and s.n_issues > 0
    assert s.policy["evidence"] == "trusted" and s.policy["n_evidence"] == 100
    # shares are over the scored pool only
    assert s.label_issue_share == pytest.approx(s.n_issues / s.n_scored, abs=1e-6)
    assert s.dropped_share == pytest.approx(s.n_dropped / s.n_scored, abs=1e-6)
    # never worse than the given labels, and the drops stay under the estimated noise rate
    pool = digits["pool"]
    clean = np.asarray([CLASSES.index(c) for c in frame["clean_label"]])
    kept = frame["action"].to_numpy() != "dropped"
    all_row = np.mean((clean == digits["y"])[pool] & kept[pool])
    assert all_row > np.mean(digits["noisy"][pool] == digits["y"][pool]), all_row
    assert s.dropped_share <= s.estimated_noise_rate + 1e-9
    assert 0.05 < s.estimated_noise_rate < 0.35
    assert sum(r["count"] for r in s.confusion) == frame.filter(pl.col("split") == "train").height
    assert any("fold 3/3 epoch" in m for m in msgs)
    assert (frame["method"] == "cleanlab_oof").all()
    # relabels are mostly right
    relab = frame["action"].to_numpy() == "relabeled"
    if relab.sum() >= 5:
        fixed = np.asarray([CLASSES.index(c) for c in frame["clean_label"].to_numpy()[relab]])
        assert np.mean(fixed == digits["y"][relab]) > 0.8

    frame2, s2 = clean_labels(
        digits["manifest"],
        digits["root"],
        CLASSES,
        config=_cfg(method="cleanlab_oof"),
        cache_dir=digits["cache"],
    )
    assert s2.oof_cache_hit is True
    assert frame2.equals(frame)


def test_trusted_model_flags_injected_noise(digits):
    frame, s = clean_labels(
        digits["manifest"], digits["root"], CLASSES, config=_cfg(method="cleanlab_trusted")
    )
    _check_frame(frame, digits)
    prec, rec = _precision_recall(frame, digits)
    assert rec >= 0.7 and prec >= 0.6, (prec, rec)
    assert s.method == "cleanlab_trusted" and s.trusted_per_class["d3"] == 10
    assert (frame["method"] == "cleanlab_trusted").all()


def test_small_trusted_set_falls_back_to_oof(digits):
    frame, s = clean_labels(
        digits["manifest"],
        digits["root"],
        CLASSES,
        config=_cfg(method="cleanlab_trusted", min_trusted_per_class=11),
        cache_dir=digits["cache"],
    )
    assert s.method == "cleanlab_oof" and s.requested_method == "cleanlab_trusted"
    assert any("fell back" in n for n in s.notes)
    assert frame.height == digits["manifest"].height


def test_config_and_manifest_errors(digits, tmp_path):
    m = digits["manifest"]
    with pytest.raises(ValueError, match="unknown label-cleaning method 'bogus'"):
        LabelCleaningConfig(method="bogus")
    with pytest.raises(ValueError, match="k_folds must be >= 2"):
        LabelCleaningConfig(k_folds=1)
    with pytest.raises(ValueError, match="labels not in classes"):
        clean_labels(m, digits["root"], CLASSES[:-1], config=_cfg())
    with pytest.raises(ValueError, match="missing columns"):
        clean_labels(m.drop("trusted"), digits["root"], CLASSES, config=_cfg())
    with pytest.raises(ValueError, match="split must be one of"):
        clean_labels(m.with_columns(split=pl.lit("val")), digits["root"], CLASSES, config=_cfg())


def test_class_with_no_train_rows_is_reported_and_the_rest_cleaned(digits):
    # issue 15: every row of one class quarantined -> no ValueError; the class is reported,
    # the other classes are scored and cleaned, and the output keeps every class column
    m = digits["manifest"]
    keep = (m["label"] != "d9").to_numpy()
    frame, s = clean_labels(m.filter(pl.Series(keep)), digits["root"], CLASSES, config=_cfg())
    assert frame.height == int(keep.sum())
    assert s.classes_without_train_rows == ["d9"]
    assert any("d9" in n and "no train rows" in n for n in s.notes)
    assert frame["prob_d9"].max() == 0.0
    probs = frame.select([f"prob_{c}" for c in CLASSES]).to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-6)
    assert s.n_issues > 0 and s.policy["mode"] == "rectify"
    assert (frame["clean_label"] != "d9").all()


def test_test_rows_of_an_unlearnable_class_are_kept_in_order(digits):
    m = digits["manifest"]
    # d9 only in the test split: its train rows are gone, its test rows stay (kept, in order)
    sub = m.filter(~((pl.col("label") == "d9") & (pl.col("split") == "train")))
    frame, s = clean_labels(sub, digits["root"], CLASSES, config=_cfg())
    assert frame["image"].to_list() == sub["image"].to_list()
    d9 = frame.filter(pl.col("given_label") == "d9")
    assert d9.height > 0 and (d9["action"] == "kept").all() and (d9["split"] == "test").all()
    assert s.classes_without_train_rows == ["d9"]


def test_below_the_minimum_labels_are_checked_not_changed(tmp_path):
    # issue 15: five images, every label correct -> before, two correct labels were relabeled;
    # now below PolicyConfig.min_scored_rows nothing changes and the reason is in the summary
    from sklearn.datasets import load_digits

    d = load_digits()
    pick = [0, 10, 20, 1, 11]  # three 0s and two 1s, all correctly labelled
    for i in pick:
        img = (d.images[i] / 16 * 255).round().astype(np.uint8)
        Image.fromarray(img, mode="L").save(tmp_path / f"{i}.png")
    m = pl.DataFrame(
        {
            "image": [f"{i}.png" for i in pick],
            "label": [f"d{d.target[i]}" for i in pick],
            "trusted": [False] * 5,
            "split": ["train"] * 5,
        }
    )
    frame, s = clean_labels(m, tmp_path, CLASSES[:2], config=_cfg())
    assert (frame["clean_label"] == frame["given_label"]).all()
    assert (frame["action"] == "kept").all()
    assert s.n_relabeled == 0 and s.n_dropped == 0
    assert s.policy["mode"] == "flag_only" and "min_scored_rows" in s.policy["reason"]
    assert any("flag only" in n for n in s.notes)


def test_trusted_model_never_makes_labels_worse_when_it_cannot_see_the_classes(tmp_path):
    """Images that carry no class signal (noise pixels), every given label right: a model
    trained on the trusted rows alone is at chance. Its own trusted rows must be scored out of
    sample, so the policy sees that and changes nothing (before: trusted rows were in-sample, the
    policy checked itself on pool rows the model happened to agree with, and relabeled)."""
    rng = np.random.default_rng(0)
    n, classes = 240, CLASSES[:3]
    y = np.arange(n) % 3
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(
            tmp_path / f"{i:04d}.png"
        )
    trusted = np.zeros(n, bool)
    trusted[draw_trusted(y, 12, seed=0)] = True
    manifest = pl.DataFrame(
        {
            "image": [f"{i:04d}.png" for i in range(n)],
            "label": [classes[c] for c in y],
            "trusted": trusted,
            "split": ["train"] * n,
        }
    )
    frame, s = clean_labels(manifest, tmp_path, classes, config=_cfg(method="cleanlab_trusted"))
    assert s.method == "cleanlab_trusted"
    assert (frame["clean_label"] == frame["given_label"]).all(), frame["action"].value_counts()
    assert s.policy["evidence"] == "trusted", s.policy
