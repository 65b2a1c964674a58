"""merge() on an adapter whose weights are a pickle: a MergeError, and nothing written."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from glimmer.train.merge import MergeError, merge
from tests.train.test_merge import _adapter


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("a pickle ran code",))


def test_pickled_adapter_weights_are_refused(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "adapter"
    _adapter(tiny_checkpoint, folder)
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.bin").write_bytes(pickle.dumps({"weights": _Payload()}))
    with pytest.raises(MergeError) as info:
        merge(folder, tmp_path / "merged", base=str(tiny_checkpoint))
    assert "cannot be read" in info.value.message and "safetensors" in (info.value.hint or "")
    assert "a pickle ran code" not in capsys.readouterr().out
    assert not (tmp_path / "merged").exists()
