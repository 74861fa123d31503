"""The decision policy: one ``action`` per row from evidence, never a fixed probability cut.

docs/labels.md §4a describes it; in short, for the scored (pool) rows:

1. **Calibrate.** The method's probabilities are temperature-scaled so that they predict the
   *known* labels of the evidence rows (trusted rows scored out of sample; without them, pool
   rows the model agrees with, noted as a proxy). This turns probabilities of a model trained on
   noisy labels into an estimate of ``p(true = t | x)``.
2. **Noise transition.** ``T[t, y] = P(given = y | true = t)`` is estimated on the pool from the
   calibrated probabilities (a soft confusion matrix, refined by two EM steps), lightly smoothed.
3. **Posterior.** ``P(true = t | x, given = y) ∝ p(t | x) · T[t, y]``; methods whose
   probabilities already condition on the given label (``kind="posterior"``: RST, VRI) skip 1-2.
4. **Decide.** Relabel when the posterior's top class differs from the given label and its
   posterior is at least the relabel threshold (chosen on the evidence rows from a grid);
   drop a flagged row only when no class, the given one included, reaches ``drop_below``;
   keep otherwise. Drops are capped at the estimated noise rate (or ``max_drop_fraction``).
5. **Never worse.** On the evidence rows, given labels are simulated from ``T`` (exactly, by
   summing over the possible given labels) and the policy's label accuracy (a drop counts as
   wrong) is compared with the given labels' accuracy, with the temperature cross-fitted. When
   the lower confidence bound of the gain is not above zero -- or there are too few scored or
   evidence rows -- nothing is changed: flagged rows are kept with their given label
   ("flag only") and the reason is recorded.
6. **No trusted rows.** Proxy evidence cannot verify a change (see
   ``PolicyConfig.rectify_without_trusted``): flag only, unless the user opts in.
7. **A model weaker than the labels.** For a model that never trained on a pool label
   (``independent_model``: ``cleanlab_trusted``), the estimate of ``T`` absorbs the model's own
   errors as label noise -- the weaker the model, the noisier the given labels look (CIFAR-10N
   aggre, 100 trusted images: given labels estimated 79 % right, really 91 %) -- and step 5,
   which simulates from that ``T``, passes a policy that makes the labels worse. Such a model
   may therefore only change labels when its accuracy on the evidence rows is at least the
   estimated accuracy of the given labels; otherwise flag only.

Everything chosen and measured goes into :class:`PolicyReport` (the asset's metadata).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ops.contracts import DROPPED, KEPT, RELABELED

PROB_KINDS = ("clean", "posterior")
"""``clean``: probabilities of the true class that did not see the row's own label
(out-of-fold, trusted model). ``posterior``: probabilities that already condition on it."""


@dataclass(frozen=True)
class PolicyConfig:
    """Settings of :func:`decide`.

    Attributes
    ----------
    relabel : bool
        ``False``: never relabel (flagged rows are kept or dropped).
    relabel_grid : tuple of float
        Candidate relabel thresholds on the posterior; the one with the best simulated accuracy
        on the evidence rows is used (ties: the highest).
    relabel_threshold : float or None
        A fixed relabel threshold instead of the grid (the never-worse check still applies).
    drop_below : float
        A flagged row is dropped only when its largest posterior is below this (neither the
        given label nor another class is more likely than not). 0 never drops.
    max_drop_fraction : float or None
        Cap on dropped rows as a share of the scored rows; ``None`` (default): the estimated
        noise rate.
    min_scored_rows : int
        Below this many scored rows the labels are checked but not changed (flag only).
    min_evidence_rows : int
        Below this many evidence rows the policy cannot be verified: flag only.
    z : float
        One-sided z of the lower confidence bound in the never-worse check (1.645 = 95 %).
    smoothing : float
        Weight of a uniform matrix mixed into the estimated transition ``T``.
    em_steps : int
        EM refinements of ``T`` (0: the soft confusion matrix of the calibrated probabilities).
    refine_rounds : int
        Methods that can retrain (``cleanlab_oof``; :mod:`ops.labels.refine`) repeat their
        out-of-fold scoring up to this many more times on the labels the policy chose, and the
        policy decides again from the new probabilities (0: one round, no refinement).
    refine_confidence : float
        A refinement round trains on the trusted rows and the pool rows whose posterior for the
        chosen label is at least this (and not dropped); the other pool rows are only scored.
    refine_min_change : float
        Refinement stops early when a round changes the decision of less than this share of
        the scored rows (converged).
    rectify_without_trusted : bool
        ``False`` (default): without trusted rows (proxy evidence) labels are flagged, never
        changed -- the check in step 5 then runs on rows picked for agreeing with the model and
        on a ``T`` that takes the model's own errors for label noise, so it passes changes that
        make clean labels worse (1,000 CIFAR-10 test photos, labels 99.7 % right: estimated
        92 % right, 14 relabeled and 8 dropped, none of them among the 3 known errors).
        ``True``: rectify on proxy evidence anyway.
    """

    relabel: bool = True
    relabel_grid: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
    relabel_threshold: float | None = None
    drop_below: float = 0.5
    max_drop_fraction: float | None = None
    min_scored_rows: int = 50
    min_evidence_rows: int = 20
    z: float = 1.645
    smoothing: float = 0.01
    em_steps: int = 2
    refine_rounds: int = 2
    refine_confidence: float = 0.8
    refine_min_change: float = 0.01
    rectify_without_trusted: bool = False

    def __post_init__(self) -> None:
        if not self.relabel_grid or not all(0.0 < t <= 1.0 for t in self.relabel_grid):
            raise ValueError(f"relabel_grid needs values in (0, 1], got {self.relabel_grid}")
        if self.relabel_threshold is not None and not 0.0 < self.relabel_threshold <= 1.0:
            raise ValueError(f"relabel_threshold must be in (0, 1], got {self.relabel_threshold}")
        if not 0.0 <= self.drop_below <= 1.0:
            raise ValueError(f"drop_below must be in [0, 1], got {self.drop_below}")
        if self.max_drop_fraction is not None and not 0.0 <= self.max_drop_fraction <= 1.0:
            raise ValueError(f"max_drop_fraction must be in [0, 1], got {self.max_drop_fraction}")
        if self.min_scored_rows < 0 or self.min_evidence_rows < 0:
            raise ValueError("min_scored_rows and min_evidence_rows must be >= 0")
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if self.refine_rounds < 0:
            raise ValueError(f"refine_rounds must be >= 0, got {self.refine_rounds}")
        if not 0.0 <= self.refine_confidence <= 1.0:
            raise ValueError(f"refine_confidence must be in [0, 1], got {self.refine_confidence}")
        if not 0.0 <= self.refine_min_change <= 1.0:
            raise ValueError(f"refine_min_change must be in [0, 1], got {self.refine_min_change}")


@dataclass
class PolicyReport:
    """What the policy decided and on which evidence (JSON-able with ``to_dict()``).

    Attributes
    ----------
    mode : ``"rectify"`` (actions applied) or ``"flag_only"`` (nothing changed).
    reason : why flag-only (empty when rectifying).
    evidence : ``"trusted"`` (trusted rows scored out of sample), ``"proxy"`` (pool rows the
        model agrees with, optimistic) or ``"none"``.
    n_evidence : evidence rows.
    temperature : the calibration temperature (1.0 when not fitted).
    relabel_threshold : the chosen relabel threshold.
    drop_cap : most rows that may be dropped.
    est_accuracy_given, est_accuracy_policy : simulated label accuracy of the given labels and
        of the policy on the evidence rows (cross-fitted; ``None`` without evidence).
    est_gain_lcb : lower confidence bound of the gain (policy - given).
    evidence_model_accuracy : share of the evidence rows whose top class is their known label
        (``None`` without trusted evidence); compared with ``est_accuracy_given`` for an
        independent model.
    pool_accuracy_given, pool_accuracy_policy : the same two, estimated over the scored rows
        from the posterior (model-based, for orientation).
    transition_diag : estimated ``P(given = t | true = t)`` per class.
    n_relabeled, n_dropped, n_kept_flagged : decisions on the scored rows.
    refinement : one record per scoring round of a refining method (:mod:`ops.labels.refine`):
        the round's policy mode, counts and estimates, the rows it trained on and the share of
        decisions that changed from the previous round; empty without refinement.
    """

    mode: str = "rectify"
    reason: str = ""
    evidence: str = "none"
    n_evidence: int = 0
    temperature: float = 1.0
    relabel_threshold: float = 0.5
    drop_cap: int = 0
    est_accuracy_given: float | None = None
    est_accuracy_policy: float | None = None
    est_gain_lcb: float | None = None
    evidence_model_accuracy: float | None = None
    pool_accuracy_given: float | None = None
    pool_accuracy_policy: float | None = None
    transition_diag: list[float] = field(default_factory=list)
    n_relabeled: int = 0
    n_dropped: int = 0
    n_kept_flagged: int = 0
    refinement: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-12, None))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature ``τ`` minimising the cross-entropy of ``softmax(log p / τ)`` against
    ``labels`` smoothed by the rule of succession (bounded search over ``τ`` in [0.05, 20]);
    1.0 for no rows.

    The targets put ``1 / (n + 2)`` of their mass uniformly on the other classes (``n`` rows):
    when the model gets every one of ``n`` known labels right, the plain NLL is smallest at
    ``τ -> 0`` (certainty from a finite sample), which would let the posterior ignore the given
    label altogether; with the smoothing, confidence grows with the evidence but stays finite.
    """
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        return 1.0
    logp = _log(probs)
    n, c = logp.shape
    eps = 1.0 / (n + 2)
    target = np.full((n, c), eps / max(c - 1, 1))
    target[np.arange(n), labels] = 1.0 - eps

    def nll(log_t: float) -> float:
        q = _softmax(logp / np.exp(log_t))
        return float(-np.mean(np.sum(target * np.log(np.clip(q, 1e-12, None)), axis=1)))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / temperature)``."""
    return _softmax(_log(probs) / temperature)


def estimate_transition(
    p_true: np.ndarray,
    given: np.ndarray,
    n_classes: int,
    smoothing: float = 0.01,
    em_steps: int = 2,
) -> np.ndarray:
    """``T[t, y] = P(given = y | true = t)`` from calibrated true-class probabilities of rows with
    given labels ``given``: a soft confusion matrix, refined by ``em_steps`` EM steps (the
    posterior replaces the prior), mixed with ``smoothing`` of a uniform matrix. Classes with no
    mass get the identity row."""
    y = np.asarray(given, dtype=np.int64)
    onehot = np.eye(n_classes)[y]
    resp = p_true
    t_mat = np.eye(n_classes)
    for step in range(em_steps + 1):
        joint = resp.T @ onehot  # (t, y)
        mass = joint.sum(axis=1, keepdims=True)
        t_mat = np.where(mass > 0, joint / np.clip(mass, 1e-12, None), np.eye(n_classes))
        t_mat = (1 - smoothing) * t_mat + smoothing / n_classes
        if step < em_steps:
            resp = posterior(p_true, y, t_mat)
    return t_mat


def posterior(p_true: np.ndarray, given: np.ndarray, t_mat: np.ndarray) -> np.ndarray:
    """``P(true = t | x, given = y) ∝ p(t | x) · T[t, y]``, row-normalised."""
    post = p_true * t_mat[:, np.asarray(given, dtype=np.int64)].T
    return post / np.clip(post.sum(axis=1, keepdims=True), 1e-300, None)


def _decide_rows(
    post: np.ndarray, given: np.ndarray, flagged: np.ndarray, threshold: float, cfg: PolicyConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Uncapped decisions: (relabel mask, drop mask) and the top class via ``post``."""
    top = post.argmax(axis=1)
    best = post.max(axis=1)
    relabel = cfg.relabel & (top != given) & (best >= threshold)
    drop = flagged & ~relabel & (best < cfg.drop_below)
    return relabel, drop


def _simulate(
    p_true: np.ndarray, truth: np.ndarray, t_mat: np.ndarray, threshold: float, cfg: PolicyConfig
) -> np.ndarray:
    """Per evidence row: expected gain in label correctness (policy minus given label) when the
    given label is drawn from ``T[truth, :]``; every row counts as flagged (the worst case for
    drops)."""
    n, c = p_true.shape
    gain = np.zeros(n)
    for y in range(c):
        w = t_mat[truth, y]
        yy = np.full(n, y)
        post = posterior(p_true, yy, t_mat)
        relabel, drop = _decide_rows(post, yy, np.ones(n, bool), threshold, cfg)
        clean = np.where(relabel, post.argmax(axis=1), yy)
        correct = (clean == truth) & ~drop
        gain += w * (correct.astype(float) - (yy == truth))
    return gain


def decide(
    given: np.ndarray,
    probs: np.ndarray,
    is_issue: np.ndarray,
    scored: np.ndarray,
    evidence: np.ndarray | None,
    *,
    kind: str = "clean",
    estimated_noise_rate: float = 0.0,
    config: PolicyConfig | None = None,
    proxy_ok: bool = True,
    independent_model: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, PolicyReport]:
    """Decide an action for every row.

    Parameters
    ----------
    given : (N,) int given labels (for evidence rows: the known true label).
    probs : (N, C) the method's probabilities.
    is_issue : (N,) bool, the method's flags.
    scored : (N,) bool, rows that may be changed (the pool); the rest stay ``kept``.
    evidence : row indices whose probabilities are out of sample and whose given label is known
        to be right (OOF-scored trusted rows), or None.
    kind : ``"clean"`` or ``"posterior"`` (:data:`PROB_KINDS`).
    estimated_noise_rate : the method's estimate; the default drop cap.
    proxy_ok : without evidence rows, use scored rows the model agrees with as (optimistic)
        evidence; only valid when the scored rows' probabilities are out of sample.
    independent_model : the model never trained on a pool label (step 7 of the module doc):
        it may change labels only when it is at least as accurate on the evidence rows as the
        given labels are estimated to be.

    Returns
    -------
    actions : (N,) object array of ``kept``/``relabeled``/``dropped``.
    clean : (N,) int clean labels.
    is_issue : (N,) bool, the flags plus every relabeled row.
    report : :class:`PolicyReport`.
    """
    actions, clean, flags, report, _ = decide_with_posterior(
        given,
        probs,
        is_issue,
        scored,
        evidence,
        kind=kind,
        estimated_noise_rate=estimated_noise_rate,
        config=config,
        proxy_ok=proxy_ok,
        independent_model=independent_model,
    )
    return actions, clean, flags, report


def decide_with_posterior(
    given: np.ndarray,
    probs: np.ndarray,
    is_issue: np.ndarray,
    scored: np.ndarray,
    evidence: np.ndarray | None,
    *,
    kind: str = "clean",
    estimated_noise_rate: float = 0.0,
    config: PolicyConfig | None = None,
    proxy_ok: bool = True,
    independent_model: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, PolicyReport, np.ndarray]:
    """:func:`decide`, and the posterior ``P(true | x, given)`` it decided from ((N, C); for
    ``kind="posterior"`` the normalised probabilities)."""
    cfg = config or PolicyConfig()
    if kind not in PROB_KINDS:
        raise ValueError(f"kind must be one of {PROB_KINDS}, got {kind!r}")
    y = np.asarray(given, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    n, c = p.shape
    scored = np.asarray(scored, dtype=bool)
    flags = np.asarray(is_issue, dtype=bool) & scored
    actions = np.full(n, KEPT, dtype=object)
    clean = y.copy()
    rep = PolicyReport()
    pool = np.flatnonzero(scored)

    post = p / np.clip(p.sum(axis=1, keepdims=True), 1e-300, None)

    def flag_only(
        reason: str,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, PolicyReport, np.ndarray]:
        rep.mode, rep.reason = "flag_only", reason
        rep.n_relabeled = rep.n_dropped = 0
        rep.n_kept_flagged = int(flags.sum())
        return actions, clean, flags, rep, post

    if len(pool) < cfg.min_scored_rows:
        return flag_only(
            f"{len(pool)} scored rows < min_scored_rows {cfg.min_scored_rows}: labels checked, "
            "not changed"
        )
    ev = np.zeros(0, np.int64) if evidence is None else np.asarray(evidence, dtype=np.int64)
    rep.evidence = "trusted" if len(ev) else "none"
    if len(ev) == 0 and proxy_ok and kind == "clean":
        agree = pool[(p[pool].argmax(axis=1) == y[pool]) & ~flags[pool]]
        ev, rep.evidence = agree, "proxy"
    rep.n_evidence = int(len(ev))
    if rep.evidence == "proxy" and not cfg.rectify_without_trusted:
        return flag_only(
            "no trusted rows: a change cannot be checked against labels known to be right, so "
            "labels are flagged, not changed (mark a few verified labels as trusted, or set "
            "rectify_without_trusted)"
        )

    if kind == "clean":
        if len(ev) < cfg.min_evidence_rows:
            return flag_only(
                f"{len(ev)} evidence rows < min_evidence_rows {cfg.min_evidence_rows}: the "
                "policy cannot be checked against known labels"
            )
        # proxy rows were picked for agreeing with the model: fitting a temperature on them
        # would only sharpen it, so proxy evidence checks the policy but does not calibrate
        proxy = rep.evidence == "proxy"
        rep.temperature = 1.0 if proxy else fit_temperature(p[ev], y[ev])
        p_true = calibrate(p, rep.temperature)
        t_mat = estimate_transition(p_true[pool], y[pool], c, cfg.smoothing, cfg.em_steps)
        post = posterior(p_true, y, t_mat)
    else:
        t_mat = None
        p_true = post
    if t_mat is not None:
        rep.transition_diag = [round(float(v), 4) for v in np.diag(t_mat)]

    # choose the relabel threshold on the evidence rows (all of them, temperature in-sample)
    grid = cfg.relabel_grid if cfg.relabel_threshold is None else (cfg.relabel_threshold,)
    threshold = min(grid)  # posterior kind: the method's own top class once it is the better bet
    if t_mat is not None:
        scores = [
            (float(_simulate(p_true[ev], y[ev], t_mat, th, cfg).mean()), th) for th in sorted(grid)
        ]
        best = max(s for s, _ in scores)
        threshold = max(th for s, th in scores if s >= best - 1e-12)
        # the never-worse check: temperature cross-fitted over two halves of the evidence
        rng = np.random.default_rng(0)
        half = rng.permutation(len(ev)) % 2
        gain = np.zeros(len(ev))
        for h in (0, 1):
            fit, test = ev[half != h], ev[half == h]
            tau = 1.0 if proxy else fit_temperature(p[fit], y[fit])
            gain[half == h] = _simulate(calibrate(p[test], tau), y[test], t_mat, threshold, cfg)
        acc_given = float(np.mean(np.diag(t_mat)[y[ev]]))
        rep.est_accuracy_given = round(acc_given, 4)
        rep.est_accuracy_policy = round(acc_given + float(gain.mean()), 4)
        se = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else np.inf
        rep.est_gain_lcb = round(float(gain.mean()) - cfg.z * se, 4)
        if rep.evidence == "trusted":
            hit = p[ev].argmax(axis=1) == y[ev]
            rep.evidence_model_accuracy = round(float(hit.mean()), 4)
    rep.relabel_threshold = float(threshold)

    relabel, drop = _decide_rows(post, y, flags, threshold, cfg)
    relabel &= scored
    drop &= scored
    cap_share = cfg.max_drop_fraction if cfg.max_drop_fraction is not None else estimated_noise_rate
    rep.drop_cap = int(np.floor(max(0.0, cap_share) * len(pool)))
    drop_rows = np.flatnonzero(drop)
    if len(drop_rows) > rep.drop_cap:  # keep the most credible, drop the least
        order = np.argsort(post[drop_rows].max(axis=1), kind="stable")
        drop = np.zeros(n, bool)
        drop[drop_rows[order[: rep.drop_cap]]] = True
    top = post.argmax(axis=1)
    new_clean = np.where(relabel, top, y)
    rep.pool_accuracy_given = round(float(post[pool, y[pool]].mean()), 4)
    rep.pool_accuracy_policy = round(float(np.mean(post[pool, new_clean[pool]] * ~drop[pool])), 4)
    if (
        independent_model
        and rep.evidence_model_accuracy is not None
        and rep.evidence_model_accuracy < (rep.est_accuracy_given or 0.0)
    ):
        return flag_only(
            f"the model never saw a pool label and is less accurate on the {rep.n_evidence} "
            f"trusted rows ({rep.evidence_model_accuracy}) than the given labels are estimated "
            f"to be ({rep.est_accuracy_given}): its noise estimate cannot be told apart from its "
            "own errors"
        )
    if rep.est_gain_lcb is not None and rep.est_gain_lcb <= 0:
        return flag_only(
            f"the policy does not beat the given labels with confidence on the {rep.evidence} "
            f"evidence rows (estimated accuracy {rep.est_accuracy_policy} vs "
            f"{rep.est_accuracy_given}, gain lower bound {rep.est_gain_lcb})"
        )
    if rep.est_gain_lcb is None and rep.pool_accuracy_policy <= rep.pool_accuracy_given:
        return flag_only("the method's own posterior does not favour changing any label")
    actions[relabel] = RELABELED
    actions[drop] = DROPPED
    clean = new_clean
    rep.n_relabeled = int(relabel.sum())
    rep.n_dropped = int(drop.sum())
    rep.n_kept_flagged = int((flags & ~relabel & ~drop).sum())
    return actions, clean, flags | relabel, rep, post
