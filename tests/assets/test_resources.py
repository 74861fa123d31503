import pytest
from pydantic import ValidationError

from assets.resources import JudgeResource
from ops.tsrating.llm_judge import LLMJudge
from ops.tsrating.rubric_judge import RubricJudge


def test_default_is_rubric_and_cache_under_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SIEVE_DATA_DIR", str(tmp_path / "root"))
    r = JudgeResource()
    judge, cache = r.build()
    assert isinstance(judge, RubricJudge)
    assert cache.path == (tmp_path / "root" / "cache" / "judgments.sqlite").resolve()
    assert cache.path.is_file()


def test_paths_follow_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIEVE_DATA_DIR", raising=False)
    assert JudgeResource(data_dir=str(tmp_path / "a")).resolved_cache_path() == (
        tmp_path / "a" / "cache" / "judgments.sqlite"
    )
    assert (
        JudgeResource(cache_path=str(tmp_path / "abs.sqlite")).resolved_cache_path()
        == tmp_path / "abs.sqlite"
    )
    monkeypatch.setenv("SIEVE_DATA_DIR", str(tmp_path / "b"))
    assert JudgeResource(cache_path="x/j.sqlite").resolved_cache_path() == (
        tmp_path / "b" / "x" / "j.sqlite"
    )


def test_litellm_kind_requires_model():
    with pytest.raises(ValidationError, match="explicit `model`"):
        JudgeResource(kind="litellm")
    with pytest.raises(ValidationError, match="bogus"):
        JudgeResource(kind="litellm", model="openai/x", bogus=1)


def test_litellm_kind_builds_configured_judge(tmp_path):
    r = JudgeResource(
        kind="litellm",
        model="openai/test-model",
        api_base="http://127.0.0.1:1/v1",
        api_key_env="SOME_KEY_VAR",
        n_votes=7,
        call_budget=3,
        offline=True,
        cache_path=str(tmp_path / "c.sqlite"),
    )
    judge, cache = r.build()
    assert isinstance(judge, LLMJudge)
    c = judge.config
    assert (c.model, c.api_base, c.api_key_env, c.n_votes, c.call_budget, c.offline) == (
        "openai/test-model",
        "http://127.0.0.1:1/v1",
        "SOME_KEY_VAR",
        7,
        3,
        True,
    )
    assert JudgeResource(kind="litellm", model="openai/m").llm_config().api_base is None


def test_config_roundtrip():
    r = JudgeResource(kind="litellm", model="openai/m", n_votes=3)
    assert JudgeResource(**r.model_dump()) == r


def test_run_config_override_reaches_judge_and_unknown_keys_rejected(tmp_path):
    import dagster as dg

    seen = {}

    @dg.asset
    def probe(judge: JudgeResource):
        j, cache = judge.build()
        seen["judge"], seen["cache"] = j, cache.path
        return 1

    rc = {
        "resources": {
            "judge": {
                "config": {
                    "kind": "litellm",
                    "model": "openai/m",
                    "n_votes": 5,
                    "offline": True,
                    "cache_path": str(tmp_path / "j.sqlite"),
                }
            }
        }
    }
    res = dg.materialize(
        [probe], resources={"judge": JudgeResource.configure_at_launch()}, run_config=rc
    )
    assert res.success and seen["judge"].config.n_votes == 5 and seen["judge"].offline
    assert seen["cache"] == tmp_path / "j.sqlite"
    rc["resources"]["judge"]["config"]["base_url"] = "http://127.0.0.1:1"
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.materialize(
            [probe], resources={"judge": JudgeResource.configure_at_launch()}, run_config=rc
        )


def test_judge_resource_from_env_reads_sieve_judge_variables():
    from assets.resources import judge_resource_from_env

    assert judge_resource_from_env({}).kind == "rubric"
    res = judge_resource_from_env(
        {
            "SIEVE_JUDGE_KIND": "litellm",
            "SIEVE_JUDGE_MODEL": "openai/m",
            "SIEVE_JUDGE_API_BASE": "http://127.0.0.1:8000/v1",
            "SIEVE_JUDGE_CALL_BUDGET": "50",
        }
    )
    assert (res.kind, res.model, res.api_base, res.call_budget) == (
        "litellm",
        "openai/m",
        "http://127.0.0.1:8000/v1",
        50,
    )
    with pytest.raises(Exception, match="explicit `model`"):
        judge_resource_from_env({"SIEVE_JUDGE_KIND": "litellm"})
