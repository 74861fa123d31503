"""The rater a dataset was fitted with, kept between nights (docs/tsrating.md §11.8).

Refitting every night made flags flicker: each night that appended 10 % more points to the
series re-drew the fine-tune's samples, the calibration copy and the contamination estimate.
Over three such nights on the tuning domains 1,147 flags appeared or disappeared on windows
whose points had not changed (1,607 flags on the first night; ``benchmarks/tsrating_nights.py``).
The report's new-issue diff then measured the refit, not the data.

So the scores step keeps what it fitted (``clean/timeseries/<dataset>/rater_state.pt``):

- the fine-tuned net (a quality-net checkpoint, so ``ScoresConfig.checkpoint`` can also load it);
- the fault evidence: each series' norm, by series name, and the dataset-wide spreads;
- the calibrated threshold and ``p_fault`` map;
- what it was fitted on: a fingerprint of the settings, the init checkpoint, the window length
  and the judge, the number of windows, and when.

A later night scores with that state unchanged, unless :func:`refit_reason` gives a reason to
fit again: none kept, settings / checkpoint / window length / judge changed, the dataset has
grown (or shrunk) by more than ``refit_growth`` since the fit, fewer than half of tonight's
series were in it, fewer than half of the windows it remembers (up to 1,000, by a signature of
their first timestamp, point count, mean and std) still hold the same points (data replaced
under the same name), or ``refit`` was asked for. Series that are new since the fit are judged
against tonight's norm for them, with the kept spreads and threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ops.hashing import sha256_hex
from ops.tsrating import calibration as cal

if TYPE_CHECKING:  # torch loads only where a state is saved or read (the report needs neither)
    from ops.tsrating.quality_net import QualityNet

STATE_KIND = "sieve-rater-state"
STATE_SCHEMA = 1
#: windows whose content the kept fit remembers, to notice data replaced under the same name
SIGNATURE_WINDOWS = 1000


@dataclass
class RaterState:
    net: QualityNet
    evidence: dict[str, Any]  # {"spreads": {comp: float}, "norms": {comp: {series: float}}}
    calibrator: dict[str, float]  # t, a, b
    calibration_info: dict[str, Any]
    fingerprint: str
    n_windows: int
    fitted_at: str  # ISO time of the fit (UTC)
    fit_run: str = ""  # the run that fitted it
    fit_summary: dict[str, Any] = field(default_factory=dict)  # init, fit, self_supervised
    signatures: dict[str, str] = field(default_factory=dict)  # window_id -> content signature

    # ------------------------------------------------------------------ build / apply
    @classmethod
    def capture(
        cls,
        net: QualityNet,
        ev: cal.Evidence,
        names: list[str],
        calib: cal.Calibrator,
        *,
        fingerprint: str,
        n_windows: int,
        fitted_at: str,
        fit_run: str = "",
        fit_summary: dict[str, Any] | None = None,
        signatures: dict[str, str] | None = None,
    ) -> RaterState:
        norms = {k: {s: float(v[i]) for i, s in enumerate(names)} for k, v in ev.norms.items()}
        return cls(
            net=net,
            evidence={"spreads": {k: float(v) for k, v in ev.spreads.items()}, "norms": norms},
            calibrator={"t": float(calib.t), "a": float(calib.a), "b": float(calib.b)},
            calibration_info=_plain(calib.info),
            fingerprint=fingerprint,
            n_windows=int(n_windows),
            fitted_at=fitted_at,
            fit_run=fit_run,
            fit_summary=_plain(fit_summary or {}),
            signatures=dict(signatures or {}),
        )

    def evidence_for(self, names: list[str], tonight: cal.Evidence) -> tuple[cal.Evidence, int]:
        """The kept evidence over tonight's series ``names`` (tonight's norm for a series the
        fit never saw) and how many series are new."""
        kept = self.evidence["norms"]
        norms = {}
        for k, v in tonight.norms.items():
            known = kept.get(k, {})
            norms[k] = np.array([known.get(s, v[i]) for i, s in enumerate(names)], np.float64)
        new = sum(s not in kept.get("learned", {}) for s in names)
        spreads = {k: float(self.evidence["spreads"].get(k, tonight.spreads[k])) for k in norms}
        return cal.Evidence(spreads, norms), new

    def calibrator_with(self, cfg: cal.CalibrationConfig) -> cal.Calibrator:
        c = self.calibrator
        return cal.Calibrator(c["t"], c["a"], c["b"], cfg, dict(self.calibration_info))

    def describe(self) -> dict[str, Any]:
        """What ``rater_report.json → state`` says about the kept fit."""
        return {
            "fitted_at": self.fitted_at,
            "fit_run": self.fit_run,
            "n_windows_at_fit": self.n_windows,
            "fingerprint": self.fingerprint,
        }

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> str:
        from ops.tsrating.quality_net import save_checkpoint

        info = {
            "kind": STATE_KIND,
            "state_schema": STATE_SCHEMA,
            "evidence": self.evidence,
            "calibrator": self.calibrator,
            "calibration_info": self.calibration_info,
            "fingerprint": self.fingerprint,
            "n_windows": self.n_windows,
            "fitted_at": self.fitted_at,
            "fit_run": self.fit_run,
            "fit_summary": self.fit_summary,
            "signatures": self.signatures,
        }
        return save_checkpoint(self.net, path, info)

    @classmethod
    def load(cls, path: str | Path) -> RaterState:
        """A kept state; ``ValueError`` when the file is not one this Sieve can use."""
        from ops.tsrating.quality_net import load_checkpoint

        net, header = load_checkpoint(path)
        info = header.get("info") or {}
        if info.get("kind") != STATE_KIND or info.get("state_schema") != STATE_SCHEMA:
            raise ValueError(f"{path} is a quality-net checkpoint but not a kept rater state")
        return cls(
            net=net,
            evidence=info["evidence"],
            calibrator=info["calibrator"],
            calibration_info=info.get("calibration_info") or {},
            fingerprint=str(info["fingerprint"]),
            n_windows=int(info["n_windows"]),
            fitted_at=str(info["fitted_at"]),
            fit_run=str(info.get("fit_run", "")),
            fit_summary=info.get("fit_summary") or {},
            signatures=info.get("signatures") or {},
        )


def load_kept(path: str | Path) -> tuple[RaterState | None, str | None]:
    """The kept state at ``path``, or ``None`` and why not (absent, unreadable, other format)."""
    path = Path(path)
    if not path.is_file():
        return None, "no rater kept from an earlier night"
    try:
        return RaterState.load(path), None
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds; a night then refits
        return None, f"the kept rater could not be read ({type(e).__name__}: {e})"


def fit_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a fit depends on (``refit``/``refit_growth`` only decide whether to fit)."""
    return {k: v for k, v in settings.items() if not k.startswith("refit")}


def fingerprint(settings: dict[str, Any], init_version: str | None, length: int, judge: str) -> str:
    """What a kept fit depends on: the settings that shape it (:func:`fit_settings`), the init
    checkpoint, the window length and the judge model."""
    fit = sorted(fit_settings(settings).items())
    return sha256_hex(repr((dict(fit), init_version, int(length), judge)))[:16]


def window_signatures(windows: pl.DataFrame, ids: list[str] | None = None) -> dict[str, str]:
    """A content signature (first timestamp, points, mean, std) per window: of ``ids`` where
    they exist, else of up to :data:`SIGNATURE_WINDOWS` windows spread over the table."""
    if ids is None:
        step = max(1, -(-windows.height // SIGNATURE_WINDOWS))
        rows = windows.gather_every(step)
    else:
        rows = windows.filter(pl.col("window_id").is_in(ids))
    out = {}
    for wid, start, n, mean, std in rows.select(
        "window_id", "window_start", "n_points", "mean", "std"
    ).iter_rows():
        key = repr((str(start), n, _round(mean), _round(std)))
        out[str(wid)] = sha256_hex(key)[:12]
    return out


def _round(v: float | None) -> str:
    return "none" if v is None or not np.isfinite(v) else f"{v:.9g}"


def refit_reason(
    state: RaterState | None,
    *,
    fingerprint: str,
    n_windows: int,
    names: list[str],
    growth: float,
    refit: bool,
    missing_reason: str | None = None,
    windows: pl.DataFrame | None = None,
) -> str | None:
    """Why tonight fits again (``None``: score with the kept state). ``windows``: tonight's
    windows table, to check that the windows remembered at the fit still hold the same data."""
    if refit:
        return "refit requested"
    if state is None:
        return missing_reason or "no rater kept from an earlier night"
    if state.fingerprint != fingerprint:
        return "settings, init checkpoint, window length or judge changed since the kept fit"
    ratio = n_windows / max(state.n_windows, 1)
    if growth > 0 and (ratio > growth or ratio < 1.0 / growth):
        return (
            f"the dataset has {n_windows} windows, {ratio:.2f}× the {state.n_windows} of the "
            f"kept fit (refit_growth {growth:g})"
        )
    known = state.evidence["norms"].get("learned", {})
    seen = sum(s in known for s in names)
    if names and seen * 2 < len(names):
        return f"only {seen} of tonight's {len(names)} series were in the kept fit"
    if windows is not None and state.signatures:
        now = window_signatures(windows, list(state.signatures))
        same = sum(now.get(w) == sig for w, sig in state.signatures.items())
        if same * 2 < len(state.signatures):
            return (
                f"only {same} of the {len(state.signatures)} windows remembered at the kept fit "
                "still hold the same points (the data was replaced or rewritten)"
            )
    return None


def state_statement(state: dict[str, Any] | None) -> str:
    """One line for people (Dagster log and metadata, the nightly report) from
    ``rater_report.json → state``: whether tonight's flags are comparable with earlier nights'."""
    if not state:
        return "rater: fitted tonight (no record of a kept one)"
    if state.get("reused"):
        new = int(state.get("new_series") or 0)
        extra = f"; {new} series new since, judged against tonight's norm" if new else ""
        return (
            f"rater kept from {state.get('fitted_at')} ({state.get('n_windows_at_fit')} windows "
            f"at the fit): flags comparable with every night scored by it{extra}"
        )
    return (
        f"rater fitted tonight ({state.get('reason') or 'no reason recorded'}): flags of "
        "unchanged windows may differ from the previous night's"
    )


def _plain(v: Any) -> Any:
    """JSON-like Python values (numpy scalars to floats/ints) for a ``weights_only`` load."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "__dataclass_fields__"):
        return _plain(asdict(v))
    return v
