"""The method registry is a leaf; method modules register themselves; the summary is typed."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ops.labels.clean import LabelCleaningSummary
from ops.labels.registry import METHODS, MethodResult, get_method, register
from tests.conftest import REPO_ROOT

# the keys of clean_labels' summary dict before it became a dataclass, in order
OLD_SUMMARY_KEYS = [
    "method",
    "requested_method",
    "estimated_noise_rate",
    "n_rows",
    "n_scored",
    "n_trusted",
    "n_test",
    "trusted_per_class",
    "n_issues",
    "n_kept",
    "n_relabeled",
    "n_dropped",
    "confusion",
    "oof_cache_hit",
    "image_size",
    "channels",
    "notes",
    "wall_seconds",
]


def test_registry_is_a_leaf():
    code = (
        "import sys, ops.labels.registry; "
        "bad = [m for m in sys.modules if m.startswith('ops.labels.') or m == 'torch']; "
        "print(bad); sys.exit(1 if bad != ['ops.labels.registry'] else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_method_registered_and_register_checks():
    import ops.labels.methods  # noqa: F401  (registers every method)

    assert {"cleanlab_oof", "cleanlab_trusted", "rst", "vri"} <= set(METHODS)
    fn = get_method("vri")
    assert register("vri")(fn) is fn  # re-registering the same function is allowed
    with pytest.raises(ValueError, match="already registered"):
        register("vri")(lambda ctx: None)

    @register("_test_constant")
    def constant(ctx):
        n = len(ctx.labels)
        return MethodResult(np.full((n, 2), 0.5), np.zeros(n, bool), np.full(n, 0.5), 0.0)

    try:
        assert get_method("_test_constant") is constant
    finally:
        METHODS.pop("_test_constant")
    with pytest.raises(ValueError, match="unknown label-cleaning method 'nope'; known"):
        get_method("nope")


def test_summary_to_dict_keeps_the_old_keys():
    s = LabelCleaningSummary(
        method="cleanlab_oof",
        requested_method="cleanlab_trusted",
        estimated_noise_rate=0.2,
        n_rows=10,
        n_scored=8,
        n_trusted=2,
        n_test=0,
        trusted_per_class={"a": 1, "b": 1},
        n_issues=2,
        n_kept=8,
        n_relabeled=1,
        n_dropped=1,
        confusion=[{"given_label": "a", "clean_label": "b", "action": "relabeled", "count": 1}],
        oof_cache_hit=None,
        image_size=8,
        channels=1,
        notes=["fell back"],
        wall_seconds=1.5,
    )
    keys = list(s.to_dict())
    assert keys[: len(OLD_SUMMARY_KEYS)] == OLD_SUMMARY_KEYS  # old keys first, in order
    assert keys[len(OLD_SUMMARY_KEYS) :] == [
        "label_issue_share",
        "dropped_share",
        "relabeled_share",
        "classes_without_train_rows",
        "policy",
    ]
    assert json.loads(s.to_json()) == s.to_dict()
