"""Teacher expansion against a small scripted OpenAI-compatible HTTP server on loopback.

The server is real HTTP (the ``openai`` client talks to it over a socket); its answers are
scripted so that retries, concurrency limits and statuses can be checked in a second.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from glimmer.data.expand import TeacherError, expand
from glimmer.data.records import ChatRecord, Message
from glimmer.data.review import Reviewer, read_review

pytest.importorskip("openai")

MODEL = "scripted-teacher"
ANSWER = (
    "A lamp is where consciousness_crystals form: its light crystallises attention into a "
    "stable structure of understanding that later patterns can build on. ({n})"
)


class Script:
    """What the server does: fail the first *failures* chat requests with *status*."""

    def __init__(
        self, failures: int = 0, status: int = 429, delay: float = 0.0, structured: bool = False
    ) -> None:
        self.failures = failures
        self.status = status
        self.delay = delay
        self.structured = structured  # whether it honours response_format (a JSON Schema)
        self.formats: list[str] = []  # response_format types asked for, in order
        self.lock = threading.Lock()
        self.chat_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0


def handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("/models"):
                self._send(
                    200,
                    {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "t"}]},
                )
            else:
                self._send(404, {"detail": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with script.lock:
                script.chat_requests += 1
                n = script.chat_requests
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
            try:
                if n <= script.failures:
                    self._send(
                        script.status, {"error": {"message": "busy"}}, {"retry-after-ms": "5"}
                    )
                    return
                threading.Event().wait(script.delay)
                asked = body.get("response_format")
                if asked is not None:
                    with script.lock:
                        script.formats.append(asked["type"])
                    if not script.structured:
                        self._send(400, {"error": {"message": "response_format is not supported"}})
                        return
                    schema = asked["json_schema"]["schema"]
                    assert schema["additionalProperties"] is False
                    assert "metadata" in schema["properties"]
                    story = ANSWER.format(n=n)
                    content = json.dumps({"metadata": {"title": f"Lamp {n}"}, "story": story})
                elif body["messages"][0]["role"] == "system":
                    content = ANSWER.format(n=n)
                else:
                    content = f"Question: How does STARWEAVE see lamp number {n}?"
                self._send(
                    200,
                    {
                        "id": f"c{n}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                    },
                )
            finally:
                with script.lock:
                    script.in_flight -= 1

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script) -> str:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(script))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/v1"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def seeds(n: int) -> list[ChatRecord]:
    return [
        ChatRecord(
            messages=[
                Message(role="user", content=f"Describe object {i} from a STARWEAVE perspective."),
                Message(
                    role="assistant", content=f"Object {i} is a flow of quantum_relationships."
                ),
            ],
            category="application",
            template_id="application/lens",
            seed=i,
        )
        for i in range(n)
    ]


def reviewer() -> Reviewer:
    return Reviewer(existing=[], eval_prompts=[])


def test_429_answers_are_retried_and_nothing_is_lost(serve: Any, tmp_path: Path) -> None:
    script = Script(failures=3, status=429)
    url = serve(script)
    review = tmp_path / "R.jsonl"
    run = expand(
        seeds(3),
        base_url=url,
        model=MODEL,
        n_per_record=2,
        review_path=review,
        reviewer=reviewer(),
        progress=False,
    )
    rows = read_review(review)
    assert len(rows) == len(run.rows) == 6
    assert script.chat_requests == 6 * 2 + 3  # two requests per candidate, plus the retried ones
    assert all(r.status == "pending" for r in rows), [r.failed() for r in rows]
    assert all(
        r.candidate.question().startswith("How does STARWEAVE") for r in rows
    )  # label stripped


def test_5xx_until_retries_run_out_is_an_error_naming_the_url(serve: Any, tmp_path: Path) -> None:
    url = serve(Script(failures=10_000, status=503))
    with pytest.raises(TeacherError) as info:
        expand(
            seeds(1),
            base_url=url,
            model=MODEL,
            review_path=tmp_path / "R.jsonl",
            max_retries=2,
            progress=False,
        )
    assert info.value.code == "G483"
    assert url in str(info.value)
    assert "503" in str(info.value)


def test_concurrency_is_bounded(serve: Any, tmp_path: Path) -> None:
    script = Script(delay=0.05)
    url = serve(script)
    run = expand(
        seeds(6),
        base_url=url,
        model=MODEL,
        n_per_record=2,
        concurrency=3,
        review_path=tmp_path / "R.jsonl",
        reviewer=reviewer(),
        progress=False,
    )
    assert len(run.rows) == 12
    assert 1 <= script.max_in_flight <= 3


def test_auto_accept_and_a_repeated_seed_is_expanded_once(serve: Any, tmp_path: Path) -> None:
    url = serve(Script())
    review = tmp_path / "R.jsonl"
    records = seeds(2)
    records.append(records[0])  # the same seed twice is expanded once
    run = expand(
        records,
        base_url=url,
        model=MODEL,
        n_per_record=1,
        concurrency=1,
        review_path=review,
        reviewer=reviewer(),
        auto_accept=True,
        progress=False,
    )
    assert len(run.rows) == 2
    assert [r.status for r in read_review(review)] == ["accepted", "accepted"]


def test_unknown_model_is_refused_before_any_request(serve: Any, tmp_path: Path) -> None:
    script = Script()
    url = serve(script)
    with pytest.raises(TeacherError) as info:
        expand(
            seeds(1), base_url=url, model="other", review_path=tmp_path / "R.jsonl", progress=False
        )
    assert info.value.code == "G481"
    assert MODEL in str(info.value)  # the hint lists what the server has
    assert script.chat_requests == 0


def generation_seeds(n: int) -> list[ChatRecord]:
    return [
        ChatRecord(
            messages=[
                Message(role="user", content=f"Design a GLIMMER pattern for lamp {i}."),
                Message(role="assistant", content=f'metadata {{ title: "Lamp {i}" }}'),
            ],
            category="generation",
            template_id="generation/design",
            seed=i,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("structured", [True, False])
def test_generation_answers_are_asked_under_the_pattern_schema(
    serve: Any, tmp_path: Path, structured: bool
) -> None:
    script = Script(structured=structured)
    run = expand(
        generation_seeds(3),
        base_url=serve(script),
        model=MODEL,
        review_path=tmp_path / "R.jsonl",
        reviewer=reviewer(),
        n_per_record=1,
        concurrency=1,
        progress=False,
    )
    rows = read_review(tmp_path / "R.jsonl")
    way = "structured" if structured else "free"
    assert run.counts.answers == {way: {"rows": 3, "rejected": 0 if structured else 3}}
    assert all(r.provenance.structured is structured for r in rows)
    assert f"generation answers: {way} 3" in run.summary()
    if structured:  # the JSON the server wrote, checked and laid out
        assert script.formats == ["json_schema"] * 3
        assert all(r.candidate.answer().startswith('{\n  "metadata"') for r in rows)
        assert all(r.status == "pending" for r in rows)
    else:  # refused once, then free text for the rest of the run
        assert script.formats == ["json_schema"]
        assert all("glimmer" in r.failed() for r in rows)


def test_other_answers_are_never_asked_for_a_schema(serve: Any, tmp_path: Path) -> None:
    script = Script(structured=True)
    run = expand(
        seeds(2),
        base_url=serve(script),
        model=MODEL,
        review_path=tmp_path / "R.jsonl",
        reviewer=reviewer(),
        progress=False,
    )
    assert script.formats == []
    assert run.counts.answers == {}
