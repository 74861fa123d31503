"""VRI (the KL and look-ahead tests of docs/labels.md §5, §9) and its ``clean_labels`` contract."""

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ops.labels import ImageSpec, LabelCleaningConfig, clean_labels, draw_trusted, pair_noise
from ops.labels.backbones import BackboneConfig, FeatNet
from ops.labels.images import ArrayImageDataset
from ops.labels.training import lookahead, predict_featnet, predict_proba, train_model
from ops.labels.vri import (
    KL_MODES,
    VRIConfig,
    VRINets,
    kl_diag_gauss,
    train_vri,
    vri_inner_loss,
    vri_meta_step,
)

SEED = 42
CLASSES = [f"d{i}" for i in range(10)]


def test_kl_identical_is_zero():
    g = torch.Generator().manual_seed(SEED)
    mu, lv = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    assert kl_diag_gauss(mu, lv, mu, lv).abs().max() <= 1e-7


def test_kl_nonneg_and_closed_form():
    g = torch.Generator().manual_seed(SEED)
    mq, lq, mp, lp = (torch.randn(64, 10, generator=g, dtype=torch.float64) * 2 for _ in range(4))
    kl = kl_diag_gauss(mq, lq, mp, lp)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, torch.exp(0.5 * lq)),
        torch.distributions.Normal(mp, torch.exp(0.5 * lp)),
    ).sum(-1)
    assert (kl >= 0).all()
    assert torch.allclose(kl, ref, atol=1e-10)
    # the released code's log-std/log-var mix would not match
    wrong = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, torch.exp(lq)), torch.distributions.Normal(mp, torch.exp(lp))
    ).sum(-1)
    assert not torch.allclose(kl, wrong, atol=1e-3)


def _toy(seed=SEED, d=6, c=3, n=16):
    torch.manual_seed(seed)
    net = FeatNet(nn.Sequential(nn.Linear(d, 8), nn.Tanh()), nn.Linear(8, c))
    x, y = torch.randn(n, d), torch.randint(0, c, (n,))
    xm, ym = torch.randn(n, d), torch.randint(0, c, (n,))
    return net, x, y, xm, ym


def _meta_grads(mode, lam, seed=SEED):
    net, x, y, xm, ym = _toy()
    cfg = VRIConfig.tiny(kl_mode=mode, lam=lam)
    torch.manual_seed(seed + 1)
    nets = VRINets(8, 3, cfg)
    eps = torch.randn(len(x), 3, generator=torch.Generator().manual_seed(seed + 2))
    vri_meta_step(net, nets, x, y, xm, ym, 0.5, cfg, eps=eps)
    return {k: p.grad.clone() for k, p in nets.named_parameters()}


@pytest.mark.parametrize("mode", ["outer", "inner"])
def test_kl_grad_reaches_prior(mode):
    net, x, y, xm, ym = _toy()
    cfg = VRIConfig.tiny(kl_mode=mode, lam=1.0)
    nets = VRINets(8, 3, cfg)
    before = {k: p.detach().clone() for k, p in nets.prior.named_parameters()}
    opt = torch.optim.Adam(nets.parameters(), lr=1e-2)
    vri_meta_step(net, nets, x, y, xm, ym, 0.5, cfg)
    for k, p in nets.prior.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, k
    opt.step()
    for k, p in nets.prior.named_parameters():
        assert not torch.equal(p.detach(), before[k]), k


def test_inert_prior_gets_no_grad():
    g = _meta_grads("inert", 1.0)
    assert all(g[k].abs().sum() == 0 for k in g if k.startswith("prior."))


def test_kl_changes_meta_grad():
    for mode in ("outer", "inner"):
        g0, g1 = _meta_grads(mode, 0.0), _meta_grads(mode, 1.0)
        phi = [k for k in g0 if k.startswith(("posterior.", "emb."))]
        assert any(not torch.allclose(g0[k], g1[k]) for k in phi), mode
    g0, g1 = _meta_grads("inert", 0.0), _meta_grads("inert", 1000.0)
    assert all(torch.equal(g0[k], g1[k]) for k in g0)  # the released-code defect, as an ablation


def test_lookahead_matches_manual():
    """2-layer toy ``f(x) = W2 tanh(W1 x)``: the meta-gradient w.r.t. a per-sample weight ``a``
    through ``theta' = theta - lr * grad (sum_i a_i l_i)/n`` equals the hand-derived
    ``-lr/n * <grad_theta l_meta(theta'), grad_theta l_i(theta)>`` (chain rule, exact)."""
    torch.manual_seed(SEED)
    net = nn.Sequential(
        nn.Linear(4, 5, bias=False), nn.Tanh(), nn.Linear(5, 3, bias=False)
    ).double()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randint(0, 3, (6,))
    xm, ym = torch.randn(5, 4, dtype=torch.float64), torch.randint(0, 3, (5,))
    a = torch.rand(6, dtype=torch.float64, requires_grad=True)
    lr = 0.3
    params = dict(net.named_parameters())
    li = F.cross_entropy(functional_call(net, params, (x,)), y, reduction="none")
    new = lookahead(params, (a * li).mean(), lr)
    meta = F.cross_entropy(functional_call(net, new, (xm,)), ym)
    (ga,) = torch.autograd.grad(meta, a)
    # manual: theta' from plain (graph-free) gradients, then inner products
    theta = [p.detach().clone().requires_grad_(True) for p in net.parameters()]

    def f(ws, inp):
        return torch.tanh(inp @ ws[0].T) @ ws[1].T

    gi = [
        torch.autograd.grad(F.cross_entropy(f(theta, x[i : i + 1]), y[i : i + 1]), theta)
        for i in range(6)
    ]
    with torch.no_grad():
        a0 = a.detach()
        step = [sum(a0[i] * gi[i][j] for i in range(6)) / 6 for j in range(2)]
        theta_new = [(theta[j] - lr * step[j]).requires_grad_(True) for j in range(2)]
    gm = torch.autograd.grad(F.cross_entropy(f(theta_new, xm), ym), theta_new)
    manual = torch.stack(
        [-lr / 6 * sum((gm[j] * gi[i][j]).sum() for j in range(2)) for i in range(6)]
    )
    assert torch.allclose(ga, manual, atol=1e-10)


def test_deterministic_v_and_config_validation():
    net, x, y, _, _ = _toy()
    cfg = VRIConfig.tiny(kl_mode="deterministic")
    nets = VRINets(8, 3, cfg)
    z, logits = net(x)
    l1, kl, v1 = vri_inner_loss(z, logits, y, nets, cfg)
    _, _, v2 = vri_inner_loss(z, logits, y, nets, cfg)
    assert kl is None and torch.equal(v1, v2) and ((v1 > 0) & (v1 < 1)).all()
    with pytest.raises(ValueError, match="kl_mode"):
        VRIConfig(kl_mode="bogus")
    assert set(KL_MODES) == {"outer", "inner", "inert", "deterministic"}


@pytest.mark.slow
def test_train_vri_learns_separable_toy():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    imgs = np.zeros((120, 8, 8), np.uint8)
    for i, c in enumerate(y):
        imgs[i, :, c * 2 : c * 2 + 3] = 200
    imgs = np.clip(imgs + rng.integers(0, 40, imgs.shape), 0, 255).astype(np.uint8)
    src = ArrayImageDataset(imgs)
    trusted = draw_trusted(y, 4, seed=0)
    pool = np.setdiff1d(np.arange(120), trusted)
    cfg = BackboneConfig(width=8, epochs=3, batch_size=32, min_steps=30, augment=False)
    accs = []
    net, _ = train_vri(
        src,
        pool,
        y[pool],
        trusted,
        y[trusted],
        3,
        cfg,
        VRIConfig.tiny(),
        epoch_callback=lambda ep, m: accs.append(
            float(
                (
                    m(torch.as_tensor((imgs / 255.0 - 0.5) / 0.25, dtype=torch.float32)[:, None])[1]
                    .argmax(1)
                    .numpy()
                    == y
                ).mean()
            )
        ),
    )
    assert accs[-1] > 0.9, accs


# --------------------------------------------------------------------------- clean_labels contract
@pytest.fixture(scope="module")
def digits_pngs(tmp_path_factory):
    from sklearn.datasets import load_digits

    d = load_digits()
    root = tmp_path_factory.mktemp("digits_meta")
    x = (d.images / 16 * 255).round().astype(np.uint8)[:600]
    y = d.target.astype(np.int64)[:600]
    for i, img in enumerate(x):
        Image.fromarray(img, mode="L").save(root / f"{i:04d}.png")
    test = np.random.default_rng(0).random(len(y)) < 0.25
    train_rows = np.flatnonzero(~test)
    trusted = np.zeros(len(y), bool)
    trusted[train_rows[draw_trusted(y[train_rows], 10, seed=0)]] = True
    pool = ~test & ~trusted
    noisy = y.copy()
    noisy[pool] = pair_noise(y[pool], 0.3, 10, seed=1).labels
    manifest = pl.DataFrame(
        {
            "image": [f"{i:04d}.png" for i in range(len(y))],
            "label": [CLASSES[c] for c in noisy],
            "trusted": trusted,
            "split": np.where(test, "test", "train").tolist(),
        }
    )
    return {"root": root, "manifest": manifest, "y": y, "noisy": noisy, "pool": pool}


def check_contract(frame, summary, d, method):
    m = d["manifest"]
    assert frame.height == m.height and frame["image"].to_list() == m["image"].to_list()
    assert frame.columns == [
        "image",
        "given_label",
        "clean_label",
        "label_quality",
        "is_label_issue",
        "action",
        "method",
    ] + [f"prob_{c}" for c in CLASSES] + ["trusted", "split"]
    assert (frame["method"] == method).all() and summary.method == method
    prot = frame.filter(pl.col("trusted") | (pl.col("split") == "test"))
    assert (prot["clean_label"] == prot["given_label"]).all() and (prot["action"] == "kept").all()
    assert not prot["is_label_issue"].any()
    q = frame["label_quality"].to_numpy()
    probs = frame.select([f"prob_{c}" for c in CLASSES]).to_numpy()
    assert q.min() >= 0 and q.max() <= 1 and np.allclose(probs.sum(1), 1, atol=1e-6)
    given = np.asarray([CLASSES.index(c) for c in frame["given_label"]])
    assert np.allclose(q, probs[np.arange(len(q)), given], atol=1e-6)
    top = probs.argmax(1)
    flag = frame["is_label_issue"].to_numpy()
    assert np.array_equal(flag, d["pool"] & (top != given))  # policy: flag = top class != given
    act = frame["action"].to_numpy()
    clean = np.asarray([CLASSES.index(c) for c in frame["clean_label"]])
    assert np.array_equal(clean[act == "relabeled"], top[act == "relabeled"])
    assert np.array_equal(clean[act != "relabeled"], given[act != "relabeled"])
    assert (act[~flag] == "kept").all()  # the policy may keep a flagged row (docs/labels.md §4a)
    assert summary.policy["mode"] in ("rectify", "flag_only")


def test_clean_labels_vri_contract(digits_pngs):
    d = digits_pngs
    frame, s = clean_labels(
        d["manifest"],
        d["root"],
        CLASSES,
        config=LabelCleaningConfig.tiny(method="vri", image=ImageSpec(size=8)),
    )
    check_contract(frame, s, d, "vri")
    err = (d["noisy"] != d["y"]) & d["pool"]
    flag = frame["is_label_issue"].to_numpy()
    assert (
        flag.sum() > 0 and (flag & err).sum() / err.sum() > 0.3
    )  # finds a good share of the flips
    assert any("kl_mode=outer" in n for n in s.notes)


def test_vri_lookahead_leaves_batchnorm_running_stats_alone():
    # issue 12: the virtual pass and the trusted batch through the look-ahead weights used to
    # update the real network's BatchNorm running statistics
    torch.manual_seed(SEED)
    net = FeatNet(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh()), nn.Linear(8, 3))
    before = {k: b.clone() for k, b in net.named_buffers()}
    _, x, y, xm, ym = _toy()
    cfg = VRIConfig.tiny()
    vri_meta_step(net, VRINets(8, 3, cfg), x * 3 + 1, y, xm * 3 + 1, ym, 0.5, cfg)
    for k, b in net.named_buffers():
        assert torch.equal(b, before[k]), k


def test_meta_gradient_at_lam0_is_nonzero_and_matches_finite_difference():
    # fails when the look-ahead path is detached (gradient 0) or wrong: at lambda = 0 the only
    # way the posterior gets a gradient is through theta' (second order)
    torch.manual_seed(SEED)
    net = FeatNet(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(8, 3)).double()
    cfg = VRIConfig.tiny(kl_mode="outer", lam=0.0)
    nets = VRINets(8, 3, cfg).double()
    g = torch.Generator().manual_seed(SEED + 1)
    x, xm = (torch.randn(16, 6, generator=g, dtype=torch.float64) for _ in range(2))
    y, ym = (torch.randint(0, 3, (16,), generator=g) for _ in range(2))
    eps = torch.randn(16, 3, generator=g, dtype=torch.float64)
    vri_meta_step(net, nets, x, y, xm, ym, 0.5, cfg, eps=eps)
    name, p = max(
        ((k, q) for k, q in nets.named_parameters() if k.startswith("posterior.")),
        key=lambda kq: float(kq[1].grad.abs().max()),
    )
    j = int(p.grad.abs().argmax())
    analytic = float(p.grad.reshape(-1)[j])
    assert abs(analytic) > 1e-6, name
    h = 1e-5
    flat = p.data.reshape(-1)
    orig = float(flat[j])
    metas = []
    for sign in (1, -1):
        flat[j] = orig + sign * h
        metas.append(vri_meta_step(net, nets, x, y, xm, ym, 0.5, cfg, eps=eps)["meta_ce"])
    flat[j] = orig
    numeric = (metas[0] - metas[1]) / (2 * h)
    assert abs(numeric - analytic) <= 1e-4 * max(1.0, abs(analytic)) + 1e-7, (numeric, analytic)


def test_train_vri_updates_the_meta_nets():
    # fails when meta_opt.step() is removed: a run with meta-learning switched off (meta lr
    # 1e-12) must end with different posterior weights than a normal run from the same seed
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    imgs = np.zeros((60, 8, 8), np.uint8)
    for i, c in enumerate(y):
        imgs[i, :, c * 2 : c * 2 + 3] = 200
    imgs = np.clip(imgs + rng.integers(0, 40, imgs.shape), 0, 255).astype(np.uint8)
    src = ArrayImageDataset(imgs)
    trusted = draw_trusted(y, 3, seed=0)
    pool = np.setdiff1d(np.arange(60), trusted)
    cfg = BackboneConfig(width=8, epochs=1, batch_size=16, min_steps=8, augment=False)

    def posterior_after(meta_lr):
        _, nets = train_vri(
            src, pool, y[pool], trusted, y[trusted], 3, cfg, VRIConfig.tiny(meta_lr=meta_lr)
        )
        return torch.cat([p.detach().reshape(-1) for p in nets.posterior.parameters()])

    off, on = posterior_after(1e-12), posterior_after(1e-2)
    assert float((on - off).abs().max()) > 1e-3


def digits_pair_noise(seed=0, n=900, per_class=5, rate=0.4):
    """900 sklearn digits (8x8), a trusted set of ``per_class`` per class, 40 % pair noise
    (c -> c + 1) on the rest: ``(source, true labels, given labels, pool rows, trusted rows)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16 * 255).round().astype(np.uint8)
    y = d.target.astype(np.int64)
    rows = np.random.default_rng(seed).permutation(len(y))[:n]
    trusted = rows[draw_trusted(y[rows], per_class, seed=seed)]
    pool = np.setdiff1d(rows, trusted)
    given = y.copy()
    given[pool] = pair_noise(y[pool], rate, 10, seed=seed).labels
    return ArrayImageDataset(x), y, given, pool, trusted


PAIR_CFG = BackboneConfig(width=16, epochs=30, batch_size=64, min_steps=0, num_threads=1)


def test_train_vri_beats_plain_ce_on_pair_noise():
    # issue 12: fails when meta-learning is switched off (meta_opt.step() removed, or the
    # look-ahead detached: both mutations tried 2026-12-01): VRI without its meta-gradient is at
    # or below plain CE here. Measured 2026-12-01, seeds 0/1/2, pool label accuracy: given
    # 0.622/0.587/0.599, CE 0.806/0.713/0.801, VRI (tiny nets, meta lr 1e-3) 0.931/0.908/0.934,
    # meta lr 3e-4 (the default, tuned for the 20-epoch benchmark) 0.865/0.798/0.879, meta lr
    # 1e-12 (no meta-learning) 0.788/0.685/0.753
    src, y, given, pool, trusted = digits_pair_noise()
    train = np.concatenate([pool, trusted])  # CE gets the trusted rows too (a fair baseline)
    ce = train_model(src, train, given[train], 10, PAIR_CFG, seed=0)
    acc_ce = float(np.mean(predict_proba(ce, src, pool, PAIR_CFG).argmax(1) == y[pool]))
    vcfg = VRIConfig.tiny(meta_lr=1e-3)
    net, _ = train_vri(src, pool, given[pool], trusted, y[trusted], 10, PAIR_CFG, vcfg, seed=0)
    acc_vri = float(np.mean(predict_featnet(net, src, pool, PAIR_CFG)[0].argmax(1) == y[pool]))
    assert acc_vri >= acc_ce + 0.08, (acc_vri, acc_ce)
