import sqlite3
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError

from ops.tsrating.cache import JudgmentCache, judgment_key
from ops.tsrating.pairs import PairConfig, iter_pairs, sample_pairs

IDENT = {"template_version": "v1", "template_sha256": "t" * 64, "model": "m", "params": {"n": 20}}


def test_key_depends_on_every_part():
    k = judgment_key(IDENT, "trend", "a", "b")
    assert k == judgment_key(dict(IDENT), "trend", "a", "b")
    variants = [
        judgment_key(IDENT, "trend", "b", "a"),  # order
        judgment_key(IDENT, "pattern", "a", "b"),
        judgment_key({**IDENT, "template_version": "v2"}, "trend", "a", "b"),
        judgment_key({**IDENT, "template_sha256": "u" * 64}, "trend", "a", "b"),
        judgment_key({**IDENT, "model": "m2"}, "trend", "a", "b"),
        judgment_key({**IDENT, "params": {"n": 10}}, "trend", "a", "b"),
        judgment_key(IDENT, "trend", "a", "c"),
    ]
    assert len(set(variants + [k])) == len(variants) + 1


def test_cache_roundtrip_and_wal(tmp_path):
    c = JudgmentCache(tmp_path / "sub" / "j.sqlite")
    c.put_many({"k1": {"x": 1}, "k2": {"x": 2}})
    assert c.get("k1") == {"x": 1} and c.get("nope") is None
    assert c.get_many(["k2", "k1", "k3"]) == {"k1": {"x": 1}, "k2": {"x": 2}}
    c2 = JudgmentCache(tmp_path / "sub" / "j.sqlite")  # survives reopening
    assert len(c2) == 2
    mode = (
        sqlite3.connect(tmp_path / "sub" / "j.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    )
    assert mode == "wal"


def test_concurrent_writers_from_several_processes(tmp_path):
    path = tmp_path / "j.sqlite"
    JudgmentCache(path)
    code = textwrap.dedent(f"""
        import sys
        from ops.tsrating.cache import JudgmentCache
        c = JudgmentCache({str(path)!r})
        w = int(sys.argv[1])
        for i in range(150):
            c.put_many({{f"w{{w}}-{{i}}-{{j}}": {{"w": w, "i": i}} for j in range(3)}})
        print("done")
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(w)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for w in range(4)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    c = JudgmentCache(path)
    assert len(c) == 4 * 150 * 3
    assert c.get("w3-149-2") == {"w": 3, "i": 149}


@pytest.mark.parametrize("n", [2, 7, 60])
def test_iter_pairs_enumerates_each_pair_once_seeded(n):
    ps = list(iter_pairs(n, seed=3))
    assert len(ps) == n * (n - 1) // 2 == len(set(ps))
    assert all(0 <= i < j < n for i, j in ps)
    assert ps == list(iter_pairs(n, seed=3))
    if n > 5:
        assert ps != list(iter_pairs(n, seed=4))


def test_large_n_is_lazy_and_unique():
    ps = sample_pairs(200_000, 5000, seed=1)
    assert len(set(ps)) == 5000 and all(i < j for i, j in ps)
    assert ps == sample_pairs(200_000, 5000, seed=1)


def test_pair_config_validation_and_roundtrip():
    cfg = PairConfig(pairs_per_window=2.0, max_pairs=50, seed=7)
    assert PairConfig(**cfg.model_dump()) == cfg
    assert cfg.target(10) == 20
    with pytest.raises(ValidationError):
        PairConfig(pairs_per_windw=1.0)
    with pytest.raises(ValidationError):
        PairConfig(confident_low=0.3, confident_high=0.2)


def test_locked_database_is_retried_other_errors_are_not(tmp_path):
    import sqlite3

    cache = JudgmentCache(tmp_path / "c.sqlite", busy_timeout_s=5)
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert cache._retry(flaky) == "ok" and len(attempts) == 3

    def broken():
        attempts.append(1)
        raise sqlite3.OperationalError("near 'x': syntax error")

    attempts.clear()
    with pytest.raises(sqlite3.OperationalError, match="syntax"):
        cache._retry(broken)
    assert len(attempts) == 1
