"""The resources assets use: where data lives, check thresholds, and the TSRating judge.

Leaf module for the asset layer (``pipelines`` wires these into the definitions; assets import
them from here, never from ``pipelines``). Importing it does not import litellm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # docs/stack.md §3

import dagster as dg  # noqa: E402
from pydantic import ConfigDict, Field, model_validator  # noqa: E402

from assets._config import ops_config  # noqa: E402
from ops.checks import Thresholds  # noqa: E402
from ops.paths import DatasetPaths, data_root  # noqa: E402
from ops.tsrating.cache import JudgmentCache  # noqa: E402
from ops.tsrating.llm_judge import LLMJudge, LLMJudgeConfig  # noqa: E402
from ops.tsrating.rubric_judge import RubricJudge  # noqa: E402


class SieveSettings(dg.ConfigurableResource):
    """Where Sieve reads and writes.

    ``data_dir`` empty means ``$SIEVE_DATA_DIR`` at run time, else ``data/``. ``device``
    is where torch trains and scores (label cleaning, the rater).
    """

    data_dir: str = ""
    device: str = "cpu"  # "cpu", "cuda", "cuda:N" or "auto" (CUDA when available)

    def root(self) -> Path:
        return data_root(self.data_dir or None)

    def dataset(self, kind: str, name: str) -> DatasetPaths:
        return DatasetPaths(self.root(), kind, name)


class QualityThresholds(dg.ConfigurableResource):
    """Thresholds of the asset checks (ops/checks.py ``Thresholds``: same fields and defaults,
    kept in step by tests/assets/test_config_parity.py); shares in [0, 1]."""

    max_quarantine_share: float = Field(0.5, description="blocking: share of input quarantined")
    max_label_issue_share: float = Field(
        0.5, description="warning: share of the scored pool flagged as label issue"
    )
    max_dropped_share: float = Field(0.1, description="warning: share of the scored pool dropped")
    max_low_quality_share: float = Field(0.5, description="warning: share of low-quality windows")
    max_judge_budget_share: float = Field(1.0, description="warning: judge calls / call budget")
    max_judge_failure_share: float = Field(
        0.5,
        description="the scores asset fails (last good scores kept, nothing published) when "
        "more than this share of the judged pairs errored or was unparseable",
    )

    def to_ops(self) -> Thresholds:
        return ops_config(Thresholds, self)


DEFAULT_CACHE = "cache/judgments.sqlite"


class JudgeResource(dg.ConfigurableResource):
    """Which judge rates window pairs, and where judgments are cached. Unknown keys are rejected.

    Defaults to the deterministic rubric judge (a surrogate, no model). ``kind="litellm"``
    requires an explicit ``model``; ``api_base`` has no default (``None`` = the provider's own
    endpoint); the key is read from the environment variable named by ``api_key_env``. The
    fields shared with ``LLMJudgeConfig`` carry its defaults (tests/assets/test_config_parity.py)
    and are passed on by name (:meth:`llm_config`).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rubric", "litellm"] = "rubric"
    model: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float = 1.0
    n_votes: int = 20
    min_valid_votes: int | None = None
    use_logprobs: Literal["auto", "always", "never"] = "auto"
    top_logprobs: int = 5
    timeout_s: float = 60.0
    max_retries: int = 3
    max_concurrency: int = 4
    call_budget: int | None = None
    offline: bool = False
    template_version: str = "v1"
    cache_path: str = DEFAULT_CACHE
    data_dir: str | None = None

    @model_validator(mode="after")
    def _check_model(self) -> JudgeResource:
        if self.kind == "litellm" and not (self.model and self.model.strip()):
            raise ValueError(
                "JudgeResource(kind='litellm') needs an explicit `model` (a litellm model string)"
            )
        return self

    def resolved_cache_path(self, root: Path | None = None) -> Path:
        """Absolute paths as given; relative ones under the data root (``data_dir`` or
        ``$SIEVE_DATA_DIR``)."""
        p = Path(self.cache_path).expanduser()
        return p if p.is_absolute() else data_root(self.data_dir or root) / p

    def llm_config(self) -> LLMJudgeConfig:
        return ops_config(LLMJudgeConfig, self, model=self.model or "")

    def build(self, root: Path | None = None) -> tuple[RubricJudge | LLMJudge, JudgmentCache]:
        """The ops-level judge and the judgment cache (a fresh judge per run: the call budget
        is per run). ``root`` is the data root used for a relative ``cache_path`` when
        ``data_dir`` is unset."""
        judge: RubricJudge | LLMJudge
        if self.kind == "rubric":
            judge = RubricJudge()
        else:
            if self.model and self.model.startswith("sieve-local/"):
                from ops.tsrating.local_llm import register_local_provider

                register_local_provider(preload=False)
            judge = LLMJudge(self.llm_config())
        return judge, JudgmentCache(self.resolved_cache_path(root))


ENV_FIELDS = {
    "SIEVE_JUDGE_KIND": "kind",
    "SIEVE_JUDGE_MODEL": "model",
    "SIEVE_JUDGE_API_BASE": "api_base",
    "SIEVE_JUDGE_API_KEY_ENV": "api_key_env",
    "SIEVE_JUDGE_N_VOTES": "n_votes",
    "SIEVE_JUDGE_USE_LOGPROBS": "use_logprobs",
    "SIEVE_JUDGE_CALL_BUDGET": "call_budget",
    "SIEVE_JUDGE_MAX_CONCURRENCY": "max_concurrency",
    "SIEVE_JUDGE_OFFLINE": "offline",
}


def judge_resource_from_env(environ: dict[str, str] | None = None) -> JudgeResource:
    """The definitions' default judge: the rubric surrogate unless ``SIEVE_JUDGE_*`` variables
    say otherwise (e.g. ``SIEVE_JUDGE_KIND=litellm SIEVE_JUDGE_MODEL=openai/gpt-4o-mini
    SIEVE_JUDGE_API_KEY_ENV=OPENAI_API_KEY``). Run config in the launchpad overrides it."""
    environ = dict(os.environ if environ is None else environ)
    values = {
        field: environ[var] for var, field in ENV_FIELDS.items() if environ.get(var, "").strip()
    }
    return JudgeResource(**values)
