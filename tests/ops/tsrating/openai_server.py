"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol.

It answers from the rubric judge: it parses the criterion and the two series back out of the
prompt and returns logprobs (when asked and ``supports_logprobs``) or ``n`` votes (when
``supports_n``, else a single choice). Faults can be queued: ``"429"``, ``"500"``,
``"timeout"`` (sleeps past the client timeout, then answers), ``"garbage"`` (answers
"Banana").
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ops.tsrating.rubric_judge import RubricJudge
from ops.tsrating.serialize import parse_series

_CRIT = re.compile(r"Criterion \((\w+)\)")
_A = re.compile(r"^\[Option A\] (.*)$", re.M)
_B = re.compile(r"^\[Option B\] (.*)$", re.M)


class ServerState:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults: list[str] = []
        self.supports_logprobs = True
        self.supports_n = True
        self.timeout_sleep = 2.5
        self.requests: list[dict] = []
        self.counters: dict[str, int] = {}
        self.rubric = RubricJudge()


def _handler(state: ServerState):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _send(self, code: int, obj: dict):
            body = json.dumps(obj).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            req = json.loads(self.rfile.read(n) or b"{}")
            with state.lock:
                state.requests.append(
                    {"path": self.path, "body": req, "auth": self.headers.get("Authorization")}
                )
                fault = state.faults.pop(0) if state.faults else None
            if not self.path.endswith("/chat/completions"):
                return self._send(404, {"error": {"message": "not found"}})
            if fault == "429":
                return self._send(
                    429,
                    {
                        "error": {
                            "message": "rate limited",
                            "type": "rate_limit_error",
                            "code": "rate_limit_exceeded",
                        }
                    },
                )
            if fault == "500":
                return self._send(500, {"error": {"message": "boom", "type": "server_error"}})
            if fault == "timeout":
                time.sleep(state.timeout_sleep)
            prompt = req["messages"][-1]["content"]
            crit = _CRIT.search(prompt).group(1)
            a = parse_series(_A.search(prompt).group(1))
            b = parse_series(_B.search(prompt).group(1))
            p = state.rubric.prob_second(a, b, crit)
            nreq = int(req.get("n") or 1)
            nret = nreq if state.supports_n else 1
            want_lp = bool(req.get("logprobs")) and state.supports_logprobs
            choices = []
            with state.lock:
                k0 = state.counters.get(prompt, 0)
                state.counters[prompt] = k0 + nret
            for i in range(nret):
                if fault == "garbage":
                    text = "Banana"
                elif want_lp:
                    text = "B" if p >= 0.5 else "A"
                elif nret == nreq and nreq > 1:
                    text = "B" if i < round(p * nreq) else "A"
                else:
                    text = "B" if (((k0 + i) * 0.6180339887) % 1.0) < p else "A"
                ch = {
                    "index": i,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length",
                }
                if want_lp:
                    if fault == "garbage":
                        top = [
                            {"token": "Ban", "logprob": -0.1, "bytes": None},
                            {"token": "The", "logprob": -2.5, "bytes": None},
                        ]
                    else:
                        top = [
                            {"token": "A", "logprob": math.log(max(1 - p, 1e-12)), "bytes": None},
                            {"token": "B", "logprob": math.log(max(p, 1e-12)), "bytes": None},
                        ]
                        top.sort(key=lambda e: -e["logprob"])
                    ch["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
                choices.append(ch)
            pt = len(prompt) // 4
            self._send(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": req.get("model"),
                    "choices": choices,
                    "usage": {
                        "prompt_tokens": pt,
                        "completion_tokens": nret,
                        "total_tokens": pt + nret,
                    },
                },
            )

    return H


class LocalOpenAIServer:
    def __init__(self):
        self.state = ServerState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
