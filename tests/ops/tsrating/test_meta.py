"""Meta-learning (docs/tsrating.md §7, §9 D1): the meta step really updates θ with the query
gradient, and meta-training helps few-shot adaptation on domains sharing a quality direction."""

import numpy as np
import pytest
import torch

from ops.tsrating.meta import (
    Domain,
    MetaConfig,
    evaluate,
    few_shot_adapt,
    meta_step,
    meta_train,
    save_meta_checkpoint,
    split_task,
)
from ops.tsrating.rater import Pairs, RaterHead, bt_loss, load_heads

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _toy_domain(seed: int, n: int = 300, d: int = 24, n_pairs: int = 200, w=None):
    """Features N(0, I) plus a domain offset; true quality = X @ w (w shared across domains)."""
    rng = np.random.default_rng(seed)
    if w is None:
        w = np.zeros(d)
        w[0] = 1.0
    X = rng.normal(size=(n, d)) + rng.normal(scale=0.5, size=d)
    s = X @ w
    a = rng.integers(0, n, size=4 * n_pairs)
    b = rng.integers(0, n, size=4 * n_pairs)
    p = 1 / (1 + np.exp(-(s[b] - s[a]) / 0.3))
    keep = ((p <= 0.25) | (p >= 0.75)) & (a != b)
    a, b, p = a[keep][:n_pairs], b[keep][:n_pairs], p[keep][:n_pairs]
    return X.astype(np.float32), Pairs(a, b, p)


def _tasks(n_tasks, cfg, dtype=torch.float32):
    rng = np.random.default_rng(0)
    out = []
    for t in range(n_tasks):
        X, pairs = _toy_domain(t, n=60, d=6, n_pairs=40)
        out.append(
            split_task(
                torch.as_tensor(X, dtype=dtype),
                pairs,
                MetaConfig(n_support=12, n_query=12),
                rng,
                f"t{t}",
            )
        )
    return out


def test_meta_step_changes_meta_params():
    torch.manual_seed(0)
    cfg = MetaConfig(inner_steps=2, support_batch=4, hidden=16, beta=0.1)
    head = RaterHead(6, 16)
    before = {k: v.detach().clone() for k, v in head.named_parameters()}
    opt = torch.optim.SGD(head.parameters(), lr=cfg.beta)
    meta_step(head, opt, _tasks(2, cfg), cfg)
    for k, v in head.named_parameters():
        assert v.grad is not None, k
        assert not torch.equal(v.detach(), before[k]), f"{k} unchanged"


def test_meta_grad_is_query_grad():
    """One task: (θ_before − θ_after)/β equals the query gradient at independently adapted
    weights."""
    torch.manual_seed(1)
    cfg = MetaConfig(inner_steps=3, support_batch=5, hidden=16, alpha=4e-3, beta=0.5)
    head = RaterHead(6, 16).double()
    (task,) = _tasks(1, cfg, dtype=torch.float64)
    before = {k: v.detach().clone() for k, v in head.named_parameters()}
    opt = torch.optim.SGD(head.parameters(), lr=cfg.beta)
    meta_step(head, opt, [task], cfg)

    # independent: a module copy, plain autograd, manual signSGD, then .backward() on the query loss
    ref = RaterHead(6, 16).double()
    with torch.no_grad():
        for k, v in ref.named_parameters():
            v.copy_(before[k])
    x = task.x
    sa, sb, sp = task.support.a, task.support.b, torch.as_tensor(task.support.p)
    for _ in range(cfg.inner_steps):
        for s in range(0, len(task.support), cfg.support_batch):
            i = slice(s, s + cfg.support_batch)
            ref.zero_grad()
            bt_loss(ref(x[sa[i]]), ref(x[sb[i]]), sp[i]).backward()
            with torch.no_grad():
                for v in ref.parameters():
                    v -= cfg.alpha * torch.sign(v.grad)
    ref.zero_grad()
    qa, qb, qp = task.query.a, task.query.b, torch.as_tensor(task.query.p)
    bt_loss(ref(x[qa]), ref(x[qb]), qp).backward()
    for k, v in head.named_parameters():
        implied = (before[k] - v.detach()) / cfg.beta
        torch.testing.assert_close(implied, dict(ref.named_parameters())[k].grad, atol=1e-6, rtol=0)


def test_meta_batch_capped_by_tasks():
    cfg = MetaConfig(meta_iters=2, meta_batch=10, inner_steps=1, hidden=8, n_support=8, n_query=8)
    doms = [Domain(f"d{i}", *_toy_domain(i, n=40, d=5, n_pairs=30)) for i in range(2)]
    doms = [Domain(d.name, d.features, {"trend": d.pairs}) for d in doms]
    heads, report = meta_train(doms, cfg, criteria=["trend"])
    assert set(heads) == {"trend"} and report["trend"]["n_tasks"] == 2


def _few_shot_gap(seeds, meta_iters, d=24, beta=0.2):
    w = np.zeros(d)
    w[:3] = [1.0, -0.5, 0.5]
    sources = []
    for i in range(4):
        X, p = _toy_domain(100 + i, d=d, w=w)
        sources.append(Domain(f"src{i}", X, {"trend": p}))
    cfg = MetaConfig(meta_iters=meta_iters, hidden=64, seed=0, beta=beta)
    heads, _ = meta_train(sources, cfg, criteria=["trend"])
    meta_acc, rand_acc = [], []
    for seed in seeds:
        X, pairs = _toy_domain(1000 + seed, d=d, w=w, n_pairs=220)
        perm = np.random.default_rng(seed).permutation(len(pairs))
        shot, test = pairs.take(perm[:10]), pairs.take(perm[20:])
        torch.manual_seed(seed)
        rand = RaterHead(d, 64)
        meta_acc.append(
            evaluate(few_shot_adapt(heads["trend"], X, shot, lr=1e-3, seed=seed), X, test)
        )
        rand_acc.append(evaluate(few_shot_adapt(rand, X, shot, lr=1e-3, seed=seed), X, test))
    return float(np.mean(meta_acc)), float(np.mean(rand_acc))


def test_meta_init_beats_random_init_fast():
    meta, rand = _few_shot_gap(seeds=[0, 1, 2], meta_iters=10, beta=0.5)
    assert meta > rand + 0.1, (meta, rand)


@pytest.mark.slow
def test_meta_init_beats_random_init():
    meta, rand = _few_shot_gap(seeds=list(range(8)), meta_iters=100)
    assert meta > rand + 0.1 and meta > 0.8, (meta, rand)


def test_meta_checkpoint_roundtrip(tmp_path):
    cfg = MetaConfig(meta_iters=1, inner_steps=1, hidden=8, n_support=8, n_query=8)
    X, p = _toy_domain(0, n=40, d=5, n_pairs=30)
    doms = [Domain("d0", X, {"pattern": p})]
    heads, _ = meta_train(doms, cfg, criteria=["pattern"])
    version = save_meta_checkpoint(tmp_path / "m.pt", heads, cfg, doms, {"kind": "toy"})
    states, info = load_heads(tmp_path / "m.pt")
    assert (
        info["version"] == version
        and info["data_fingerprint"]
        and info["config"]["meta_iters"] == 1
    )
    h = RaterHead(info["dim"], info["hidden"])
    h.load_state_dict(states["pattern"])
    assert torch.equal(h.out.weight, heads["pattern"].out.weight)
