"""Digests that feed cache keys and version strings shown in outputs never change.

The expected values were computed with the code before the hashing helpers moved to
``ops.hashing``: a changed digest would silently invalidate every cached judgment or rename
every rater version, so a refactor must keep them bit for bit.
"""

import numpy as np

from ops.tsrating.cache import judgment_key
from ops.tsrating.encoder import FeatureEncoder, encoder_fingerprint
from ops.tsrating.meta import Domain, MetaConfig, data_fingerprint, save_meta_checkpoint
from ops.tsrating.prompts import CRITERIA, load_template
from ops.tsrating.rater import Pairs, RaterConfig, RaterHead, fit_rater, pairs_fingerprint
from ops.tsrating.rubric_judge import RubricJudge
from ops.tsrating.serialize import content_hash

IDENT = {
    "template_version": "v1",
    "template_sha256": "t" * 64,
    "model": "m",
    "params": {"n": 20, "x": 0.5},
}


def _toy():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 5)).astype(np.float32)
    a = np.arange(0, 25)
    pairs = Pairs(a, a + 5, np.where(a % 2 == 0, 0.9, 0.1))
    return features, {c: pairs for c in CRITERIA}


def test_judgment_cache_key_and_content_hash():
    assert (
        judgment_key(IDENT, "trend", "a", "b")
        == "cc165e6c6ddb064ed0d4be27520052cf12443081590fae564fe4090ba422663c"
    )
    assert (
        content_hash(np.array([1.0, np.nan, -0.0, 2.5]))
        == "ad037dd957e38a6d144d53da3c99ad4dd0b2a610be66fe862e6c3916f3f39cde"
    )


def test_template_and_rubric_identity():
    assert (
        load_template("trend", "v1").sha256
        == "3f9eebea1a88ce47a1d97a3f801d9c95650562f2d897c6028e7026f6d027ac40"
    )
    assert (
        RubricJudge().identity("trend")["template_sha256"]
        == "41e5acede1613793fc91eb6bc0223a6e83fd440a737c7d7814afb9bfd0b7bc50"
    )
    assert encoder_fingerprint(FeatureEncoder()) == "040b17689532"


def test_rater_and_meta_versions(tmp_path):
    features, pairs = _toy()
    assert pairs_fingerprint(pairs) == "900e906ffb027321"
    rater, _ = fit_rater(
        features,
        pairs,
        RaterConfig(hidden=8, epochs=1, min_pairs=5),
        encoder={"kind": "x", "fingerprint": "f"},
    )
    assert rater.version() == "bt-rater-v1-53788868acfc"
    domains = [Domain("d1", features, pairs), Domain("d2", features[::-1].copy(), pairs)]
    assert data_fingerprint(domains) == "bef09a4a97ee9577"
    version = save_meta_checkpoint(
        tmp_path / "m.pt", {"trend": RaterHead(5, 8)}, MetaConfig(hidden=8), domains, {"kind": "x"}
    )
    assert version == "fomaml-signsgd-v1-4873f158ab94"
