"""Teacher expansion against a real OpenAI-compatible server on loopback.

The server is ``transformers serve`` with the embedded SmolLM2, started and stopped (by its
own PID) by these tests. The tiny model writes poor candidates; the tests check the checks
and the bookkeeping of the review file, not the quality.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from glimmer.data.expand import TeacherError, expand, seed_key
from glimmer.data.records import ChatRecord, Message
from glimmer.data.review import CHECKS, read_review

pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
TINY = {
    "max_tokens": 6,
    "question_max_tokens": 6,
    "timeout": 120.0,
    "max_retries": 1,
    "progress": False,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``transformers serve MODEL`` on loopback; stopped by its own PID."""

    def __init__(self, model_dir: Path, port: int, log: Path) -> None:
        exe = Path(sys.executable).parent / "transformers"
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                str(model_dir),
                "--host",
                HOST,
                "--port",
                str(port),
                "--device",
                "cpu",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # one thread: on a busy CPU, torch threads fighting other processes slow it ~10x
            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        )
        self.base_url = f"http://{HOST}:{port}/v1"
        deadline = time.monotonic() + 300  # a bounded wait, also on a busy machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited with {self.proc.returncode}; see {log}"
                )
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("transformers serve did not answer /health in time")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="module")
def model_dir() -> Path:
    from glimmer.train import models

    return Path(models.embedded_model_dir(progress=False))


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(model_dir, free_port(), tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield srv
    finally:
        srv.stop()


def seeds(n: int) -> list[ChatRecord]:
    topics = ["a river", "a kitchen", "a library", "a bridge", "a garden", "a clock"]
    return [
        ChatRecord(
            messages=[
                Message(role="user", content=f"Describe {topics[i]} from a STARWEAVE perspective."),
                Message(
                    role="assistant",
                    content=f"{topics[i].capitalize()} is a flow of quantum_relationships.",
                ),
            ],
            category="application",
            template_id="application/lens",
            source=None,
            seed=i,
        )
        for i in range(n)
    ]


def test_expand_writes_one_reviewed_row_per_candidate(
    server: Server, model_dir: Path, tmp_path: Path
) -> None:
    review = tmp_path / "REVIEW.jsonl"
    records = seeds(2)
    run = expand(
        records,
        base_url=server.base_url,
        model=str(model_dir),
        n_per_record=2,
        concurrency=2,
        review_path=review,
        **TINY,
    )
    rows = read_review(review)
    expected = {f"{seed_key(r)}#{k}" for r in records for k in range(2)}
    assert {r.id for r in rows} == expected
    assert len(rows) == len(expected) == len(run.rows)
    for r in rows:
        assert [c.name for c in r.checks] == list(CHECKS)
        assert r.status == ("pending" if all(c.passed for c in r.checks) else "rejected")
        assert r.provenance.teacher == str(model_dir)
        assert r.provenance.base_url == server.base_url
        assert r.provenance.seed_record["key"] in r.id
        assert r.candidate.category == "application"
        assert [m.role for m in r.candidate.messages] == ["user", "assistant"]
    # max_tokens=6 cuts every answer off: the format check must say so
    for r in rows:
        assert not r.checks[0].passed
        assert "cut off" in r.checks[0].reason or "empty" in r.checks[0].reason
        assert r.status == "rejected"
    assert run.counts.total == len(rows)

    again = expand(
        records,
        base_url=server.base_url,
        model=str(model_dir),
        n_per_record=2,
        review_path=review,
        **TINY,
    )
    assert again.rows == []
    assert again.skipped == len(expected)
    assert read_review(review) == rows


def test_unknown_model_is_a_clear_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(TeacherError) as info:
        expand(
            seeds(1),
            base_url=server.base_url,
            model="no-such-model",
            review_path=tmp_path / "R.jsonl",
            **TINY,
        )
    assert info.value.code == "G481"
    assert server.base_url in str(info.value)
    assert "no-such-model" in str(info.value)
    assert not (tmp_path / "R.jsonl").exists() or not read_review(tmp_path / "R.jsonl")


def test_server_down_names_the_url(tmp_path: Path) -> None:
    url = f"http://{HOST}:{free_port()}/v1"  # nothing listens there
    with pytest.raises(TeacherError) as info:
        expand(seeds(1), base_url=url, model="m", review_path=tmp_path / "R.jsonl", **TINY)
    assert info.value.code == "G480"
    assert url in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_a_run_killed_mid_way_resumes_without_loss_or_duplicates(
    model_dir: Path, tmp_path: Path
) -> None:
    review = tmp_path / "REVIEW.jsonl"
    port = free_port()
    log = tmp_path / "serve.log"
    records = seeds(4)
    kwargs = {
        "base_url": f"http://{HOST}:{port}/v1",
        "model": str(model_dir),
        "review_path": review,
        **TINY,
    }
    server = Server(model_dir, port, log)
    stop_watch = threading.Event()

    def kill_after_first_row() -> None:
        deadline = time.monotonic() + 600
        while not stop_watch.is_set() and time.monotonic() < deadline:
            if review.exists() and review.read_text(encoding="utf-8").count("\n") >= 1:
                server.kill()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_after_first_row, daemon=True)
    watcher.start()
    try:
        with pytest.raises(TeacherError) as info:
            expand(records, n_per_record=1, concurrency=1, **kwargs)
        assert info.value.code == "G480"
    finally:
        stop_watch.set()
        watcher.join(timeout=10)
        server.stop()
    first = read_review(review)
    assert 1 <= len(first) < len(records)

    server = Server(model_dir, port, log)
    try:
        run = expand(records, n_per_record=1, concurrency=2, **kwargs)
    finally:
        server.stop()
    rows = read_review(review)
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)) == len(records)
    assert set(ids) == {f"{seed_key(r)}#0" for r in records}
    assert rows[: len(first)] == first  # the rows written before the crash are kept as they were
    assert run.skipped == len(first)
    assert len(run.rows) == len(records) - len(first)
