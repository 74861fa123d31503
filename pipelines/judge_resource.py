"""``JudgeResource``: the Dagster resource that configures the TSRating judge and its cache.

Defaults to the deterministic rubric judge (a surrogate, no model). ``kind="litellm"``
requires an explicit ``model``; ``api_base`` has no default (``None`` = the provider's own
endpoint); the key is read from the environment variable named by ``api_key_env``. Importing
this module does not import litellm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dagster as dg  # noqa: E402
from pydantic import ConfigDict, model_validator  # noqa: E402

from ops.paths import data_root  # noqa: E402
from ops.tsrating.cache import JudgmentCache  # noqa: E402
from ops.tsrating.llm_judge import LLMJudge, LLMJudgeConfig  # noqa: E402
from ops.tsrating.rubric_judge import RubricJudge  # noqa: E402

DEFAULT_CACHE = "cache/judgments.sqlite"


class JudgeResource(dg.ConfigurableResource):
    """Which judge rates window pairs, and where judgments are cached. Unknown keys are rejected."""

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
        """Absolute paths as given; relative ones under the data root (``data_dir`` or ``$SIEVE_DATA_DIR``)."""
        p = Path(self.cache_path).expanduser()
        return p if p.is_absolute() else data_root(self.data_dir or root) / p

    def llm_config(self) -> LLMJudgeConfig:
        return LLMJudgeConfig(
            model=self.model or "",
            api_base=self.api_base,
            api_key_env=self.api_key_env,
            temperature=self.temperature,
            n_votes=self.n_votes,
            min_valid_votes=self.min_valid_votes,
            use_logprobs=self.use_logprobs,
            top_logprobs=self.top_logprobs,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
            call_budget=self.call_budget,
            offline=self.offline,
            template_version=self.template_version,
        )

    def build(self, root: Path | None = None) -> tuple[RubricJudge | LLMJudge, JudgmentCache]:
        """The ops-level judge and the judgment cache (a fresh judge per run: the call budget is per run).

        ``root`` is the data root used for a relative ``cache_path`` when ``data_dir`` is unset.
        """
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
    """The definitions' default judge: the rubric surrogate unless ``SIEVE_JUDGE_*`` variables say
    otherwise (e.g. ``SIEVE_JUDGE_KIND=litellm SIEVE_JUDGE_MODEL=openai/gpt-4o-mini
    SIEVE_JUDGE_API_KEY_ENV=OPENAI_API_KEY``). Run config in the launchpad overrides it per run."""
    environ = dict(os.environ if environ is None else environ)
    values = {
        field: environ[var] for var, field in ENV_FIELDS.items() if environ.get(var, "").strip()
    }
    return JudgeResource(**values)
