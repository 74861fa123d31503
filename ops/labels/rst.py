"""RST: robust self-training with closed-loop label correction (docs/labels.md §6; Lin, Liu,
Zhou 2026).

Experimental: benchmarked in benchmarks/README_labels.md, not the default method.

- Network: shared extractor ``z = e(x)``, clean head ``g_c`` (used at test) and noisy head
  ``g_n`` (models p(noisy label | x)). Loss ``CE(g_c(z), y_hat soft) + lam * CE(g_n(z), y_noisy)``;
  ``y_hat`` starts as one-hot ``y_noisy``.
- Warm-up ``warmup_frac`` (40 %) of the epochs, then a correction round every ``period_frac``
  (10 %) of the epochs, the last one after the final epoch (it sets the output labels):
  features of pool and trusted rows (eval mode, no augmentation) -> simulated noisy posterior on
  the trusted rows ``g_n(z_m)`` -> corrector ``r([label vector, z])`` (2-layer MLP, re-initialised
  each round) trained on 80 % of the trusted set, early-stopped / selected on the other 20 % ->
  ``y_bar_t`` on the pool -> simplex weights over the history ``(y_noisy, y_bar_1..y_bar_t)``
  fitted with SLSQP to minimise CE on the 20 % -> ``y_hat``.

Choices the paper leaves open (docs/labels.md §6): the corrector is trained and applied on
the same kind of input -- a one-hot label: each trusted row enters once per class ``k`` with
input ``[one-hot k, z]`` and weight ``g_n(z)[k]`` (the simulated noisy label, in expectation),
exactly as pool rows enter with their one-hot given label; the weight loss is CE, over the same
expanded validation rows, where component 0 is the one-hot simulated label (as the one-hot
given label on the pool) and components k >= 1 are the frozen validation predictions of each
``r_k``; the corrector input feature is standardised with
the statistics of its training split; the corrector is trained full-batch with **Adam** (lr 1e-3,
divided by 10 at the first validation-loss rise, stopped after ``corrector_patience`` checks
without improvement, best validation state kept) -- SGD at 1e-3 barely moves in the few hundred
steps our CPU budget allows. The lr schedule is the shared backbone recipe (cosine), so RST,
CE and cleanlab train under the same optimiser (docs/labels.md §8). Trusted rows are corrector data
only; the network trains on the noisy pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn
from torch.nn import functional as F

from ops.labels.backbones import BackboneConfig, Progress, Source, build_featnet
from ops.labels.detection import posterior_result
from ops.labels.registry import MethodContext, MethodResult, register
from ops.labels.training import (
    Batch,
    EpochCallback,
    TrainLoop,
    make_sgd,
    place,
    predict_featnet,
    seeded,
    set_lr,
    sgd_step,
)


@dataclass(frozen=True)
class RSTConfig:
    """Settings of RST.

    Attributes
    ----------
    lam : float
        Weight of the noisy-head CE (paper 0.5).
    warmup_frac, period_frac : float in (0, 1]
        Warm-up and correction period as fractions of the epochs (paper, scaled: 0.4 and 0.1).
    convex : bool
        Simplex-weighted history (default); ``False`` uses the latest correction only (ablation).
    val_frac : float in (0, 1)
        Share of the trusted set held out to select the corrector and fit the weights (0.2).
    corrector_hidden, corrector_steps, corrector_lr, corrector_patience : corrector training.
    """

    lam: float = 0.5
    warmup_frac: float = 0.4
    period_frac: float = 0.1
    convex: bool = True
    val_frac: float = 0.2
    corrector_hidden: int = 256
    corrector_steps: int = 400
    corrector_lr: float = 1e-3
    corrector_patience: int = 10

    def __post_init__(self) -> None:
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if not (0 < self.warmup_frac <= 1 and 0 < self.period_frac <= 1 and 0 < self.val_frac < 1):
            raise ValueError(
                f"need warmup_frac, period_frac in (0, 1] and val_frac in (0, 1); got "
                f"{self.warmup_frac}, {self.period_frac}, {self.val_frac}"
            )
        if self.corrector_hidden < 1 or self.corrector_steps < 1 or self.corrector_lr <= 0:
            raise ValueError("corrector_hidden, corrector_steps must be >= 1 and corrector_lr > 0")

    @classmethod
    def tiny(cls, **kw: object) -> RSTConfig:
        return cls(**{"corrector_hidden": 64, "corrector_steps": 150, **kw})  # type: ignore[arg-type]


class RSTNet(nn.Module):
    """Extractor + clean head; ``forward(x) -> (z, clean logits)``; ``noisy_head(z)``."""

    def __init__(self, features: nn.Module, clean_head: nn.Linear, n_classes: int) -> None:
        super().__init__()
        self.features, self.head = features, clean_head
        self.noisy_head = nn.Linear(clean_head.in_features, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(x)
        return z, self.head(z)


# --------------------------------------------------------------------------- pure pieces
def split_trusted(labels: np.ndarray, val_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of positions ``0..n-1`` into (train, val); every class with >= 2
    rows puts at least one row into each part."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_val = int(round(val_frac * len(rows)))
        n_val = min(max(n_val, 1), len(rows) - 1) if len(rows) >= 2 else 0
        va.append(rows[:n_val])
        tr.append(rows[n_val:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


def expand_simulated(
    sim: np.ndarray, z: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row ``i`` once per class ``k``: ``(one-hot k, z_i, y_i, weight sim[i, k])``, so the
    corrector sees one-hot labels as on the pool, weighted by how likely the simulated noisy
    label is ``k``. Returns ``(labels (n*C, C), z (n*C, D), y (n*C,), w (n*C,))``."""
    n, c = sim.shape
    lab = np.tile(np.eye(c), (n, 1))
    return lab, np.repeat(z, c, axis=0), np.repeat(np.asarray(y), c), np.asarray(sim).reshape(-1)


def fit_simplex_weights(
    preds: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Weights ``w`` on the simplex minimising the (sample-weighted) mean of
    ``-log sum_k w_k preds[k, i, y_i]`` (SLSQP).

    Parameters
    ----------
    preds : (K, n, C) label distributions of K components on n validation rows.
    y : (n,) int true labels.
    sample_weight : (n,) non-negative row weights (default: equal).
    """
    p = np.asarray(preds, np.float64)
    if p.ndim != 3 or p.shape[1] != len(y):
        raise ValueError(f"preds must be (K, n, C) with n = len(y) = {len(y)}, got {p.shape}")
    k = p.shape[0]
    if k == 1:
        return np.ones(1)
    py = p[:, np.arange(len(y)), np.asarray(y, np.int64)].T  # (n, K) probability of the truth
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    sw = sw / max(float(sw.sum()), 1e-12)

    def loss(w: np.ndarray) -> float:
        return float(-np.sum(sw * np.log(py @ w + 1e-12)))

    def jac(w: np.ndarray) -> np.ndarray:
        return -np.sum(sw[:, None] * py / (py @ w + 1e-12)[:, None], axis=0)

    res = minimize(
        loss,
        np.full(k, 1.0 / k),
        jac=jac,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[
            {"type": "eq", "fun": lambda w: np.sum(w) - 1.0, "jac": lambda w: np.ones_like(w)}
        ],
    )
    w = np.clip(res.x, 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(k, 1.0 / k)


class Corrector(nn.Module):
    """``[label vector (C), z (D)] -> distribution over C`` (2-layer MLP, softmax)."""

    def __init__(
        self, n_classes: int, feat_dim: int, hidden: int, mean: torch.Tensor, std: torch.Tensor
    ) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net = nn.Sequential(
            nn.Linear(n_classes + feat_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, label_vec: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(label_vec, z), 1)

    def logits(self, label_vec: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([label_vec, (z - self.mean) / self.std], 1))


def train_corrector(
    lab_tr: np.ndarray,
    z_tr: np.ndarray,
    y_tr: np.ndarray,
    lab_val: np.ndarray,
    z_val: np.ndarray,
    y_val: np.ndarray,
    cfg: RSTConfig,
    seed: int = 0,
    w_tr: np.ndarray | None = None,
    w_val: np.ndarray | None = None,
) -> Corrector:
    """Fresh corrector trained on (lab_tr, z_tr) -> y_tr (rows weighted by ``w_tr``), best
    (``w_val``-weighted) validation-loss state returned."""
    n_classes, d = lab_tr.shape[1], z_tr.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        zt = torch.as_tensor(z_tr, dtype=torch.float32)
        mean, std = zt.mean(0), zt.std(0).clamp_min(1e-4) if len(zt) > 1 else torch.ones(d)
        r = Corrector(n_classes, d, cfg.corrector_hidden, mean, std)
        a, b, t = (
            torch.as_tensor(lab_tr, dtype=torch.float32),
            zt,
            torch.as_tensor(y_tr, dtype=torch.long),
        )
        av, bv, tv = (
            torch.as_tensor(lab_val, dtype=torch.float32),
            torch.as_tensor(z_val, dtype=torch.float32),
            torch.as_tensor(y_val, dtype=torch.long),
        )
        wt = torch.as_tensor(np.ones(len(t)) if w_tr is None else w_tr, dtype=torch.float32)
        wv = torch.as_tensor(np.ones(len(tv)) if w_val is None else w_val, dtype=torch.float32)
        wt, wv = wt / wt.sum().clamp_min(1e-12), wv / wv.sum().clamp_min(1e-12)
        opt = torch.optim.Adam(r.parameters(), lr=cfg.corrector_lr)
        best, best_state, last, bad, dropped = float("inf"), None, float("inf"), 0, False
        for step in range(cfg.corrector_steps):
            loss = (wt * F.cross_entropy(r.logits(a, b), t, reduction="none")).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % 5 == 4 or step == cfg.corrector_steps - 1:
                with torch.no_grad():
                    vl = (
                        float((wv * F.cross_entropy(r.logits(av, bv), tv, reduction="none")).sum())
                        if len(tv)
                        else float(loss)
                    )
                if vl > last and not dropped:  # first rise: lr / 10
                    for g in opt.param_groups:
                        g["lr"] = cfg.corrector_lr / 10
                    dropped = True
                last = vl
                if vl < best - 1e-6:
                    best, bad = vl, 0
                    best_state = {k: v.detach().clone() for k, v in r.state_dict().items()}
                else:
                    bad += 1
                    if bad >= cfg.corrector_patience:
                        break
        if best_state is not None:
            r.load_state_dict(best_state)
    r.eval()
    return r


@dataclass
class CorrectionState:
    """History of corrections: pool components (one-hot noisy labels first) and the frozen
    predictions of each corrector on the expanded validation rows (:func:`expand_simulated`);
    ``weights`` of every round."""

    pool: list[np.ndarray]
    val: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)


def correction_round(
    state: CorrectionState,
    z_pool: np.ndarray,
    given_pool: np.ndarray,
    z_m: np.ndarray,
    sim_m: np.ndarray,
    y_m: np.ndarray,
    tr: np.ndarray,
    va: np.ndarray,
    cfg: RSTConfig,
    seed: int = 0,
) -> np.ndarray:
    """One closed-loop round; appends to ``state`` and returns the new soft labels ``(n_pool, C)``.

    ``z_pool`` pool features, ``given_pool`` noisy labels; ``z_m``/``sim_m``/``y_m`` trusted
    features, simulated noisy posteriors and true labels; ``tr``/``va`` positions of the 80/20
    trusted split.
    """
    n_classes = sim_m.shape[1]
    # train and apply on the same input: one-hot labels (trusted rows expanded over the classes,
    # weighted by the simulated noisy posterior), as the pool's one-hot given labels
    lab_tr, zz_tr, yy_tr, w_tr = expand_simulated(sim_m[tr], z_m[tr], y_m[tr])
    lab_va, zz_va, yy_va, w_va = expand_simulated(sim_m[va], z_m[va], y_m[va])
    r = train_corrector(
        lab_tr, zz_tr, yy_tr, lab_va, zz_va, yy_va, cfg, seed=seed, w_tr=w_tr, w_val=w_va
    )
    with torch.no_grad():
        onehot = np.eye(n_classes)[given_pool]
        ybar_pool = (
            r(
                torch.as_tensor(onehot, dtype=torch.float32),
                torch.as_tensor(z_pool, dtype=torch.float32),
            )
            .double()
            .numpy()
        )
        ybar_val = (
            r(
                torch.as_tensor(lab_va, dtype=torch.float32),
                torch.as_tensor(zz_va, dtype=torch.float32),
            )
            .double()
            .numpy()
        )
    state.pool.append(ybar_pool)
    state.val.append(ybar_val)
    if not cfg.convex:
        state.weights.append(np.eye(len(state.pool))[-1])
        return ybar_pool
    comps_val = np.stack([lab_va] + state.val)  # component 0: the one-hot label, as on the pool
    w = fit_simplex_weights(comps_val, yy_va, w_va) if len(va) else np.eye(len(state.pool))[-1]
    state.weights.append(w)
    return np.tensordot(w, np.stack(state.pool), axes=1)


def correction_epochs(epochs: int, cfg: RSTConfig) -> list[int]:
    """1-based epochs after which a correction round runs (the last one is always included)."""
    warm = max(1, int(round(cfg.warmup_frac * epochs)))
    period = max(1, int(round(cfg.period_frac * epochs)))
    eps = list(range(warm, epochs + 1, period))
    if not eps or eps[-1] != epochs:
        eps.append(epochs)
    return eps


# --------------------------------------------------------------------------- trainer
def train_rst(
    source: Source,
    noisy_idx: np.ndarray,
    noisy_labels: np.ndarray,
    trusted_idx: np.ndarray,
    trusted_labels: np.ndarray,
    n_classes: int,
    cfg: BackboneConfig,
    rcfg: RSTConfig | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    epoch_callback: EpochCallback | None = None,
) -> tuple[RSTNet, np.ndarray, CorrectionState]:
    """Train with closed-loop label correction. Returns ``(net, y_hat (n_noisy, C), state)``;
    ``net(x) -> (z, clean logits)`` in eval mode; ``epoch_callback(epoch, net)`` as in
    :func:`ops.labels.training.train_model`."""
    rcfg = rcfg or RSTConfig()
    noisy_idx, trusted_idx = np.asarray(noisy_idx, np.int64), np.asarray(trusted_idx, np.int64)
    given = np.asarray(noisy_labels, np.int64)
    y_m = np.asarray(trusted_labels, np.int64)
    if len(noisy_idx) != len(given) or len(trusted_idx) != len(y_m):
        raise ValueError(
            f"rows/labels mismatch: {len(noisy_idx)}/{len(given)} noisy, "
            f"{len(trusted_idx)}/{len(y_m)} trusted"
        )
    if len(noisy_idx) < 2 or len(trusted_idx) < 2:
        raise ValueError("need at least 2 noisy and 2 trusted rows")
    tr, va = split_trusted(y_m, rcfg.val_frac, seed)
    with seeded(cfg, seed) as (gen, device):
        fn = build_featnet(cfg, source, noisy_idx, n_classes)
        net = RSTNet(fn.features, fn.head, n_classes)  # type: ignore[arg-type]
        net = place(net, cfg, device)
        loop = TrainLoop(source, cfg, noisy_idx, given, gen, device)
        opt = make_sgd(net.parameters(), cfg)
        y_hat = np.eye(n_classes)[given]
        soft = [torch.as_tensor(y_hat, dtype=torch.float32, device=device)]  # current y_hat
        state = CorrectionState(pool=[y_hat.copy()])
        rounds = set(correction_epochs(loop.epochs, rcfg))

        def step(b: Batch) -> dict[str, torch.Tensor]:
            with loop.autocast():
                z, logits = net(b.x)
                target = soft[0][torch.as_tensor(b.sel, device=device)]
                clean_ce = -(target * F.log_softmax(logits.float(), 1)).sum(1).mean()
                loss = clean_ce + rcfg.lam * F.cross_entropy(net.noisy_head(z).float(), b.y)
            set_lr(opt, b.lr)
            sgd_step(opt, loss)
            return {"loss": loss.detach()}

        def correct(ep: int) -> str:
            nonlocal y_hat
            if ep + 1 not in rounds:
                return ""
            _, z_pool = predict_featnet(net, source, noisy_idx, cfg)
            sim_m, z_m = predict_featnet(net, source, trusted_idx, cfg, head=net.noisy_head)
            y_hat = correction_round(
                state, z_pool, given, z_m, sim_m, y_m, tr, va, rcfg, seed=seed + 7919 * (ep + 1)
            )
            soft[0] = torch.as_tensor(y_hat, dtype=torch.float32, device=device)
            changed = np.mean(y_hat.argmax(1) != given)
            return (
                f"; correction {len(state.weights)}: {changed:.3f} of labels changed, "
                f"weights {np.round(state.weights[-1], 2).tolist()}"
            )

        loop.fit(
            [net],
            step,
            name="rst ",
            progress=progress,
            epoch_callback=epoch_callback,
            after_epoch=correct,
        )
    net.eval()
    return net, y_hat, state


@register("rst")
def rst_method(ctx: MethodContext) -> MethodResult:
    """Registered as ``rst``: pool rows get the final corrected soft label ``y_hat`` as their
    probabilities; trusted and test rows the clean head's prediction. Flags = pool rows whose
    corrected top class differs from the given label (the policy of docs/labels.md §4a then
    decides); quality = probability of the given label."""
    rcfg = ctx.options.get("rst") or RSTConfig()
    net, y_hat, state = train_rst(
        ctx.source,
        ctx.pool_idx,
        ctx.labels[ctx.pool_idx],
        ctx.trusted_idx,
        ctx.labels[ctx.trusted_idx],
        ctx.n_classes,
        ctx.backbone,
        rcfg,
        seed=ctx.seed,
        progress=ctx.progress,
    )
    probs, _ = predict_featnet(net, ctx.source, np.arange(len(ctx.labels)), ctx.backbone)
    probs[ctx.pool_idx] = y_hat / y_hat.sum(1, keepdims=True)
    w = np.round(state.weights[-1], 3).tolist() if state.weights else []
    note = (
        f"rst: {len(state.weights)} correction rounds, last weights {w}; "
        f"pool probabilities = corrected soft labels"
    )
    return posterior_result(ctx, probs, note)
