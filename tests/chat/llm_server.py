"""A tiny OpenAI-compatible HTTP server for tests: /v1/chat/completions (incl. `stream: true`
server-sent events with a usage chunk) and /v1/embeddings. The real `openai` client talks to it
over real HTTP, so the provider code is tested end to end, not through a patched function.

Judge mode (issue #12): a chat request with `response_format: {"type": "json_object"}` is a
judge call. `judge_script` lists what the next judge calls get, one entry each, then "ok":
"ok" (valid JSON scores), "malformed" (not JSON), "timeout" (sleeps `judge_timeout_s`, longer
than the judge's timeout), "429" (rate limited, Retry-After: 0). The "ok" judge is a word check,
not a model: every criterion gets its top score when each word of the answer (and each number)
appears in the passages, else its bottom score — enough to test the path end to end.
`max_in_flight` is the most requests the server was serving at once."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "test-key"


class LLMServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.requests: list[dict] = []
        self.mode = "ok"  # ok | error | slow
        self.delay = 0.0
        self.token_delay = 0.0  # seconds between streamed chunks
        self.answer = "Restore a snapshot from the **Snapshots** tab [1]."
        self.judge_script: list[str] = []
        self.judge_delay = 0.0
        self.judge_timeout_s = 3.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        # answer_for(request body) -> str | None: per-model or per-question answers
        self.answer_for = None
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> LLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _words(text: str) -> list[str]:
    parts, current = [], ""
    for ch in text:
        current += ch
        if ch == " ":
            parts.append(current)
            current = ""
    return parts + ([current] if current else [])


class _Handler(BaseHTTPRequestHandler):
    server: LLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._json(
                401, {"error": {"message": "bad key", "type": "invalid_request_error"}}
            )
        if self.server.mode == "error":
            return self._json(
                500, {"error": {"message": "the model is overloaded", "type": "server_error"}}
            )
        if self.server.mode == "slow":
            time.sleep(self.server.delay)
        if (body.get("response_format") or {}).get("type") == "json_object":
            with self.server._lock:
                self.server.in_flight += 1
                self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
            try:
                return self._judge(body)
            finally:
                with self.server._lock:
                    self.server.in_flight -= 1
        if self.path == "/v1/embeddings":
            return self._embeddings(body)
        if self.path == "/v1/chat/completions":
            return self._chat(body)
        return self._json(404, {"error": {"message": "not found"}})

    def _judge(self, body: dict) -> None:
        with self.server._lock:
            script = self.server.judge_script
            behaviour = script.pop(0) if script else "ok"
        time.sleep(self.server.judge_delay)
        if behaviour == "429":
            data = json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}).encode()
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if behaviour == "timeout":
            time.sleep(self.server.judge_timeout_s)
        prompt = "\n".join(m["content"] for m in body["messages"])
        content = "{not json" if behaviour == "malformed" else json.dumps(judge_reply(prompt))
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return self._json(
            200,
            {
                "id": "chatcmpl-judge",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "usage": usage,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
            },
        )

    def _embeddings(self, body: dict) -> None:
        from knowledge.embedding import hashed_vector

        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_vector(text)[:64].tolist()}
            for i, text in enumerate(inputs)
        ]
        self._json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    def _chat(self, body: dict) -> None:
        answer = (self.server.answer_for and self.server.answer_for(body)) or self.server.answer
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(answer.split()),
            "total_tokens": prompt_tokens + len(answer.split()),
        }
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            return self._json(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": answer},
                        }
                    ],
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(payload) -> None:
            line = (
                f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()
            )
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        chunk = {**base, "object": "chat.completion.chunk"}
        send(
            {
                **chunk,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
        for word in _words(answer):
            time.sleep(self.server.token_delay)
            send(
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
            )
        send({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            send({**chunk, "choices": [], "usage": usage})
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


_JUDGE_WORD = re.compile(r"[a-z0-9]+")


def _section(prompt: str, name: str) -> str:
    match = re.search(rf"### {name}\n(.*?)(?=\n### |\Z)", prompt, re.S)
    return match.group(1) if match else ""


def judge_reply(prompt: str) -> dict:
    """What the fixture's judge says: top score when the answer's words are all in the
    passages, bottom score otherwise, for each criterion listed in the prompt."""
    criteria = re.findall(
        r"^- (\w+): .*\((-?\d+) to (-?\d+)\)$", _section(prompt, "Criteria"), re.M
    )
    passages = set(_JUDGE_WORD.findall(_section(prompt, "Passages").lower()))
    answer = re.sub(r"\[\d+\]", "", _section(prompt, "Answer").lower())
    missing = sorted(set(_JUDGE_WORD.findall(answer)) - passages)
    scores = {}
    for key, low, high in criteria:
        value = int(low) if missing else int(high)
        reason = f"not in the passages: {', '.join(missing[:3])}" if missing else "all supported"
        scores[key] = {"score": value, "reason": reason}
    return {"scores": scores}
