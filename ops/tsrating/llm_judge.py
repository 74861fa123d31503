"""LLM judge through litellm (docs/tsrating.md §4, docs/stack.md §3).

One call per *ordered* query. Paths:

- ``"logprobs"``: ``max_tokens=1, logprobs=True, top_logprobs=k``; P(A), P(B) are read from
  the single token's top log-probabilities (tokens whose stripped text is exactly ``A`` or
  ``B``) and renormalised. Used when ``use_logprobs`` is ``"always"``, or ``"auto"`` and the
  provider returns logprobs (if it returns none or rejects the parameter, ``"auto"`` falls back
  to votes and remembers that for the rest of the run).
- ``"votes"``: ``n`` samples (``temperature``, ``max_tokens=1``); when the provider drops
  ``n`` (fewer choices come back), the missing samples are asked as single calls, and later
  queries go straight to single calls. A sample counts only if its stripped text is exactly
  ``A`` or ``B``; fewer than ``min_valid_votes`` valid samples (default > n/2) makes the
  answer ``unparseable`` -- never guessed.

Nothing is defaulted to a third-party host: ``model`` is required, ``api_base`` is forwarded
exactly as configured (``None`` = the provider's own endpoint), and the key is read from the
environment variable named by ``api_key_env`` (never logged or stored). ``offline=True``
raises :class:`OfflineCacheMiss` before any client call. Rate limits (429), timeouts,
connection errors and 5xx are retried with exponential backoff (tenacity); ``call_budget``
caps the **HTTP requests** of one run, retries included (a request is counted before it is
sent, so the provider never sees more than the budget), after which queries come back
``budget_exhausted``. An answer's ``calls`` counts its HTTP requests.

Provider error bodies are stored (the ``reason`` of an ``error`` answer, which lands in
``judgments.parquet``) only after :func:`redact`: the configured key, and anything shaped like
a key or a credential (``sk-…``, ``Bearer …``, ``api_key=…``, AWS/Google key shapes, long
random-looking tokens), are replaced by ``[REDACTED]``. A proxy that echoes the key in a 401
body therefore leaks nothing into the tables.

litellm is imported lazily, inside the call path only.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ops.tsrating.judge_base import BUDGET_EXHAUSTED, ERROR, OK, UNPARSEABLE, Answer, Query
from ops.tsrating.prompts import DEFAULT_TEMPLATE_VERSION, load_template

log = logging.getLogger(__name__)


REDACTED = "[REDACTED]"
_KEY_SHAPES = re.compile(
    r"(?i)\b(?:bearer|basic)\s+[^\s\"',;]+"  # Authorization header values
    r"|(?:api[_-]?key|x-api-key|access[_-]?token|secret|password|token)"
    r"[\"']?\s*[:=]\s*[\"']?[^\s\"',;}]+"  # key=value / "key": "value"
    r"|\bsk-[A-Za-z0-9_\-]{8,}"  # OpenAI / Anthropic style
    r"|\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_\-]{20,}"  # AWS access key id, Google API key
    r"|\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}\b"  # long tokens
)


def redact(text: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """``text`` with every secret in ``secrets`` and anything key-shaped replaced by
    :data:`REDACTED` (see the module docstring)."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)


class OfflineCacheMiss(RuntimeError):
    """The judge is offline and a judgment is not in the cache."""


class _BudgetStop(Exception):
    pass


class LLMJudgeConfig(BaseModel):
    """Configuration of :class:`LLMJudge`; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        ..., min_length=1, description="litellm model string, e.g. 'openai/gpt-4o-mini'"
    )
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float = Field(1.0, ge=0)
    n_votes: int = Field(20, ge=1)
    min_valid_votes: int | None = Field(None, ge=1)
    use_logprobs: Literal["auto", "always", "never"] = "auto"
    top_logprobs: int = Field(5, ge=1, le=20)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)
    backoff_initial_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    max_concurrency: int = Field(4, ge=1)
    call_budget: int | None = Field(None, ge=0)
    offline: bool = False
    template_version: str = DEFAULT_TEMPLATE_VERSION
    prec: int = Field(4, ge=0, le=8)
    extra_params: dict[str, Any] = Field(
        default_factory=dict, description="forwarded to completion, e.g. logit_bias"
    )

    @field_validator("model")
    @classmethod
    def _strip(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("model must be a non-empty litellm model string")
        return v.strip()

    @property
    def valid_votes_needed(self) -> int:
        return self.min_valid_votes if self.min_valid_votes is not None else self.n_votes // 2 + 1


def _retryable(exc: BaseException) -> bool:
    import litellm

    retry_types = tuple(
        t
        for t in (
            getattr(litellm, n, None)
            for n in (
                "RateLimitError",
                "Timeout",
                "APIConnectionError",
                "InternalServerError",
                "ServiceUnavailableError",
                "BadGatewayError",
            )
        )
        if isinstance(t, type)
    )
    if isinstance(exc, retry_types):
        return True
    code = getattr(exc, "status_code", None)
    return isinstance(code, int) and (code == 429 or code >= 500)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _text(choice: Any) -> str | None:
    msg = _get(choice, "message")
    content = _get(msg, "content")
    return content if isinstance(content, str) else None


def _ab_from_logprobs(choice: Any) -> tuple[float, float] | None | str:
    """(P(A), P(B)) unnormalised from a choice's first-token logprobs; ``None`` when the
    response carries no logprobs at all; ``"absent"`` when neither A nor B is among them."""
    lp = _get(choice, "logprobs")
    content = _get(lp, "content")
    if not content:
        return None
    first = content[0]
    entries = list(_get(first, "top_logprobs") or [])
    entries.append(first)
    pa = pb = 0.0
    seen: set[tuple[str, float]] = set()
    for e in entries:
        tok, lpv = _get(e, "token"), _get(e, "logprob")
        if not isinstance(tok, str) or lpv is None or (tok, float(lpv)) in seen:
            continue
        seen.add((tok, float(lpv)))
        if tok.strip() == "A":
            pa += math.exp(float(lpv))
        elif tok.strip() == "B":
            pb += math.exp(float(lpv))
    if pa + pb <= 0:
        return "absent"
    return pa, pb


class LLMJudge:
    """Pairwise judge through ``litellm.completion`` (see module docstring).

    ``completion_fn`` replaces ``litellm.completion`` (tests record the kwargs with it)."""

    def __init__(self, config: LLMJudgeConfig, completion_fn: Callable[..., Any] | None = None):
        self.config = config
        self.model = config.model
        self.offline = config.offline
        self._completion_fn = completion_fn
        self._lock = threading.Lock()
        self.calls_made = 0  # logical calls (a retried call counts once)
        self.http_attempts = 0  # HTTP requests, retries included: what call_budget caps
        self.retries = 0
        self._logprobs_ok: bool | None = None
        self._n_ok: bool | None = None

    # -- identity / cache key -------------------------------------------------------------
    def identity(self, criterion: str) -> dict[str, Any]:
        t = load_template(criterion, self.config.template_version)
        c = self.config
        params = {
            "temperature": c.temperature,
            "n_votes": c.n_votes,
            "min_valid_votes": c.valid_votes_needed,
            "use_logprobs": c.use_logprobs,
            "top_logprobs": c.top_logprobs,
            "prec": c.prec,
            "extra_params": c.extra_params,
            "max_tokens": 1,
        }
        return {
            "template_version": t.version,
            "template_sha256": t.sha256,
            "model": c.model,
            "params": params,
        }

    # -- calls ---------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        if not self.config.api_key_env:
            return None
        key = os.environ.get(self.config.api_key_env)
        if not key:
            raise RuntimeError(
                f"environment variable {self.config.api_key_env!r} (api_key_env) is not set"
            )
        return key

    def _secrets(self) -> tuple[str, ...]:
        key = os.environ.get(self.config.api_key_env or "") if self.config.api_key_env else None
        return (key,) if key else ()

    def _completion(self) -> Callable[..., Any]:
        if self._completion_fn is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            self._completion_fn = litellm.completion
        return self._completion_fn

    def _reserve_request(self) -> None:
        """Count one HTTP request against the budget before it is sent."""
        with self._lock:
            budget = self.config.call_budget
            if budget is not None and self.http_attempts >= budget:
                raise _BudgetStop
            self.http_attempts += 1

    def _call(self, messages: list[dict[str, str]], info: dict[str, Any], **params: Any) -> Any:
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        with self._lock:  # nothing left for even one request: do not start the call
            budget = self.config.call_budget
            if budget is not None and self.http_attempts >= budget:
                raise _BudgetStop
            self.calls_made += 1
        c = self.config
        kwargs: dict[str, Any] = {
            "model": c.model,
            "messages": messages,
            "api_base": c.api_base,
            "timeout": c.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,
            "max_tokens": 1,
            **c.extra_params,
            **params,
        }
        key = self._api_key()
        if key is not None:
            kwargs["api_key"] = key
        fn = self._completion()

        def attempt():
            self._reserve_request()  # raises _BudgetStop (not retried) once the budget is spent
            info["calls"] += 1
            return fn(**kwargs)

        def before_sleep(rs):
            with self._lock:
                self.retries += 1
            log.warning(
                "LLM call to %s failed (%s); retry %d",
                c.model,
                type(rs.outcome.exception()).__name__,
                rs.attempt_number,
            )

        retrying = Retrying(
            stop=stop_after_attempt(c.max_retries + 1),
            wait=wait_exponential(multiplier=c.backoff_initial_s, max=c.backoff_max_s),
            retry=retry_if_exception(_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        resp = retrying(attempt)
        usage = _get(resp, "usage")
        info["tokens"] += int(_get(usage, "total_tokens", 0) or 0)
        info["cost_usd"] += self._cost(resp)
        return resp

    @staticmethod
    def _cost(resp: Any) -> float:
        try:
            import litellm

            return float(litellm.completion_cost(completion_response=resp) or 0.0)
        except Exception:  # unknown / private model: cost 0
            return 0.0

    # -- one ordered query ---------------------------------------------------------------
    def _judge_one(self, q: Query) -> Answer:
        c = self.config
        prompt = load_template(q.criterion, c.template_version).render(q.first, q.second, c.prec)
        messages = [{"role": "user", "content": prompt}]
        info: dict[str, Any] = {"calls": 0, "tokens": 0, "cost_usd": 0.0}

        def answer(**kw: Any) -> Answer:
            secrets = self._secrets()
            if kw.get("reason"):
                kw["reason"] = redact(kw["reason"], secrets)
            if kw.get("raw"):
                kw["raw"] = [redact(t, secrets) or "" for t in kw["raw"]]
            return Answer(
                model=c.model,
                calls=info["calls"],
                tokens=info["tokens"],
                cost_usd=info["cost_usd"],
                **kw,
            )

        try:
            if c.use_logprobs != "never" and self._logprobs_ok is not False:
                out = self._logprobs_path(messages, info)
                if out is not None:
                    return answer(**out)
            return answer(**self._votes_path(messages, info))
        except _BudgetStop:
            return answer(prob_second=None, status=BUDGET_EXHAUSTED, reason="call budget exhausted")
        except OfflineCacheMiss:
            raise
        except Exception as e:  # after retries: recorded, not cached, never guessed
            reason = redact(f"{type(e).__name__}: {e}", self._secrets()) or ""
            return answer(prob_second=None, status=ERROR, reason=reason[:300])

    def _logprobs_path(self, messages, info) -> dict[str, Any] | None:
        c = self.config
        try:
            resp = self._call(
                messages,
                info,
                logprobs=True,
                top_logprobs=c.top_logprobs,
                n=1,
                temperature=c.temperature,
            )
        except Exception as e:
            import litellm

            if c.use_logprobs == "auto" and isinstance(
                e, (litellm.BadRequestError, litellm.UnsupportedParamsError)
            ):
                self._logprobs_ok = False
                log.info("%s rejected logprobs (%s); using votes", c.model, type(e).__name__)
                return None
            raise
        choices = _get(resp, "choices") or []
        text = _text(choices[0]) if choices else None
        ab = _ab_from_logprobs(choices[0]) if choices else None
        if ab is None:
            if c.use_logprobs == "always":
                return {
                    "prob_second": None,
                    "status": UNPARSEABLE,
                    "path": "logprobs",
                    "reason": "provider returned no logprobs",
                    "raw": [text or ""],
                }
            self._logprobs_ok = False
            log.info("%s returned no logprobs; using votes", c.model)
            return None
        self._logprobs_ok = True
        if ab == "absent":
            return {
                "prob_second": None,
                "status": UNPARSEABLE,
                "path": "logprobs",
                "reason": "neither A nor B among the top logprobs",
                "raw": [text or ""],
            }
        pa, pb = ab
        return {
            "prob_second": pb / (pa + pb),
            "status": OK,
            "path": "logprobs",
            "raw": [text or ""],
        }

    def _votes_path(self, messages, info) -> dict[str, Any]:
        c = self.config
        texts: list[str | None] = []
        if c.n_votes > 1 and self._n_ok is not False:
            resp = self._call(messages, info, n=c.n_votes, temperature=c.temperature)
            texts = [_text(ch) for ch in (_get(resp, "choices") or [])][: c.n_votes]
            if len(texts) < c.n_votes:
                self._n_ok = False
                log.info(
                    "%s returned %d of n=%d choices; falling back to single calls",
                    c.model,
                    len(texts),
                    c.n_votes,
                )
            else:
                self._n_ok = True
        while len(texts) < c.n_votes:
            resp = self._call(messages, info, temperature=c.temperature)
            ch = _get(resp, "choices") or []
            texts.append(_text(ch[0]) if ch else None)
        va = sum(1 for t in texts if t is not None and t.strip() == "A")
        vb = sum(1 for t in texts if t is not None and t.strip() == "B")
        raw = [t if t is not None else "" for t in texts]
        if va + vb < c.valid_votes_needed:
            return {
                "prob_second": None,
                "status": UNPARSEABLE,
                "path": "votes",
                "votes_a": va,
                "votes_b": vb,
                "reason": f"{va + vb}/{c.n_votes} valid votes (< {c.valid_votes_needed})",
                "raw": raw,
            }
        return {
            "prob_second": vb / (va + vb),
            "status": OK,
            "path": "votes",
            "votes_a": va,
            "votes_b": vb,
            "raw": raw,
        }

    # -- batch ---------------------------------------------------------------------------
    def judge(self, queries: Sequence[Query]) -> list[Answer]:
        if not queries:
            return []
        if self.offline:
            raise OfflineCacheMiss(
                f"judge for {self.model!r} is offline and {len(queries)} judgments are not cached"
            )
        self._api_key()  # fail early on a missing key variable
        if self.config.max_concurrency == 1 or len(queries) == 1:
            return [self._judge_one(q) for q in queries]
        with ThreadPoolExecutor(max_workers=min(self.config.max_concurrency, len(queries))) as ex:
            return list(ex.map(self._judge_one, queries))
