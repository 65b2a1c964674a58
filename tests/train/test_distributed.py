"""fit() under a two-process launcher (gloo on the CPU): both ranks train, one adapter is saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("distributed_worker.py")


@pytest.mark.slow
def test_two_ranks_share_the_batches_and_save_one_adapter(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
) -> None:
    # every training row distinct, so the ranks' shares can be told apart
    lines = (data_dir / "train.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for i, row in enumerate(rows):
        row["messages"][1]["content"] += " " + " ".join(["weave"] * (i + 1))
    (data_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(WORKER.parent), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free port on this machine; no rendezvous server
        "--nproc_per_node",
        "2",
        str(WORKER),
        str(tiny_checkpoint),
        str(data_dir),
        str(out),
    ]
    # A new session, so that on a timeout the launcher and both ranks are ended together.
    with subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    reports = [json.loads((out / f"rank-{r}.json").read_text()) for r in (0, 1)]
    train_rows = [json.loads(line) for line in (data_dir / "train.jsonl").read_text().splitlines()]

    for report in reports:
        assert report["world_size"] == 2  # fit() knew it was one of two
        assert report["env_world_size"] == 2
        assert report["steps"] > 0
        # each rank trained on its share: half the rows of the epoch, one row a step
        assert len(report["rows"]) == len(train_rows) // 2 == report["steps"]
    assert reports[0]["steps"] == reports[1]["steps"]
    seen = [tuple(r) for report in reports for r in report["rows"]]
    assert len(set(seen)) == len(train_rows)  # the shares are disjoint and cover the epoch

    adapters = sorted(
        p.parent for p in out.rglob("adapter_config.json") if "checkpoint-" not in str(p)
    )
    assert adapters == [out / "adapter"]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((out / "fit_result.json").read_text())["device"]["world_size"] == 2
