"""A real HTTP server on 127.0.0.1 speaking OpenAI chat completions that misbehaves on purpose.

``mode`` (changeable while it runs):

- ``"ok"``: answers with first-token logprobs, P(B) from the rubric judge (so a rater trained
  on its judgments learns something real);
- ``"500"`` / ``"429"``: that HTTP status with an OpenAI-style error body;
- ``"badjson"``: HTTP 200 with a body that is not JSON;
- ``"401echo"``: HTTP 401 whose body echoes the API key and the Authorization header, as a
  misconfigured proxy does;
- ``"hang"``: holds the request until :meth:`release` (or ``hang_s``) -- a judging step that
  is stuck inside the pool ``llm``.

``every``: apply the fault only to every ``every``-th request (the others are ``ok``).
``latency``: seconds an ``ok`` answer waits before it is sent -- a hosted model's response
time, so judging is I/O-bound (the Celery pool test and ``benchmarks/scale_out.py``).
Every request is counted (``requests``); ``max_requests`` bounds the test: past it the
server answers 503 without delay, so a runaway client cannot loop forever.
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


class FaultServer:
    def __init__(
        self, mode: str = "ok", every: int = 1, max_requests: int = 10_000, latency: float = 0.0
    ):
        self.mode = mode
        self.latency = latency
        self.every = every
        self.max_requests = max_requests
        self.hang_s = 120.0
        self.requests = 0
        self.auth_seen: list[str] = []
        self.models_seen: list[str] = []
        self.lock = threading.Lock()
        self._release = threading.Event()
        self.rubric = RubricJudge()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _answer(self, req: dict) -> dict:
        prompt = req["messages"][-1]["content"]
        p = self.rubric.prob_second(
            parse_series(_A.search(prompt).group(1)),
            parse_series(_B.search(prompt).group(1)),
            _CRIT.search(prompt).group(1),
        )
        top = [
            {"token": "A", "logprob": math.log(max(1 - p, 1e-12)), "bytes": None},
            {"token": "B", "logprob": math.log(max(p, 1e-12)), "bytes": None},
        ]
        top.sort(key=lambda e: -e["logprob"])
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": top[0]["token"]},
            "finish_reason": "length",
            "logprobs": {"content": [{**top[0], "top_logprobs": top}]},
        }
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model"),
            "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }

    def _handler(self):
        server = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json"):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n)
                auth = self.headers.get("Authorization") or ""
                try:
                    model = str(json.loads(raw).get("model"))
                except ValueError:
                    model = ""
                with server.lock:
                    server.requests += 1
                    k = server.requests
                    server.auth_seen.append(auth)
                    server.models_seen.append(model)
                if k > server.max_requests:
                    return self._send(503, b'{"error": {"message": "test bound reached"}}')
                mode = server.mode if k % server.every == 0 else "ok"
                if mode == "500":
                    return self._send(500, b'{"error": {"message": "boom", "type": "server"}}')
                if mode == "429":
                    return self._send(
                        429, b'{"error": {"message": "slow down", "type": "rate_limit_error"}}'
                    )
                if mode == "badjson":
                    return self._send(200, b"<html>this is not json {", "application/json")
                if mode == "401echo":
                    key = auth.removeprefix("Bearer ")
                    msg = f"Incorrect API key provided: {key}. You sent Authorization: {auth}"
                    body = {"error": {"message": msg, "type": "invalid_request_error"}}
                    return self._send(401, json.dumps(body).encode())
                if mode == "hang":
                    server._release.wait(server.hang_s)
                    return self._send(503, b'{"error": {"message": "released"}}')
                if server.latency > 0:
                    time.sleep(server.latency)
                self._send(200, json.dumps(server._answer(json.loads(raw))).encode())

        return H
