"""The package as a user installs it: sdist -> wheel -> a fresh venv with the core only.

One module-scoped venv serves every test here. The wheel is built from the unpacked sdist
(as pip does from PyPI), so a file the sdist forgets breaks the build here first. The venv
gets glimmer's core dependencies from the package index pip is configured with; no extra is
installed, so every command that needs one must stop with the install line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import glimmer

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    venv: Path
    source: Path  # the unpacked sdist
    wheel: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
            cwd=cwd,
        )


def _check(cmd: list[str], **kw: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    dist = tmp / "dist"
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist)]
    # 1. the sdist, from the checkout
    _check([*build, "--sdist", str(ROOT)])
    (sdist,) = dist.glob("glimmer_dsl-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    (source,) = (tmp / "unpacked").iterdir()
    # 2. the wheel, from the unpacked sdist only
    _check([*build, "--wheel", str(source)])
    (wheel,) = dist.glob("glimmer_dsl-*.whl")
    # 3. a fresh venv with the core dependencies only
    venv = tmp / "venv"
    # without pip of its own: the running pip installs into it (--python), saving ensurepip
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1", NO_COLOR="1")
    start = time.perf_counter()
    python = str(venv / "bin" / "python")
    _check([sys.executable, "-m", "pip", "--python", python, "install", "-q", str(wheel)], env=env)
    # shown with `pytest -s`: the figure a user waits for
    print(f"\ncore install (wheel + core dependencies): {time.perf_counter() - start:.1f}s")
    return Installed(venv=venv, source=source, wheel=wheel, env=env)


def test_sdist_carries_license_tests_examples_and_docs(installed: Installed) -> None:
    for part in ("LICENSE", "tests/test_install.py", "examples/patterns", "docs/index.md"):
        assert (installed.source / part).exists(), part
    assert "MIT License" in (installed.source / "LICENSE").read_text("utf-8")


def test_core_install_has_no_extras_and_is_typed(installed: Installed) -> None:
    code = (
        "import importlib.util, json, pathlib, glimmer;"
        "print(json.dumps({'missing': [m for m in ('torch', 'transformers', 'datasets', 'openai')"
        " if importlib.util.find_spec(m) is None],"
        " 'typed': (pathlib.Path(glimmer.__file__).parent / 'py.typed').is_file(),"
        " 'version': glimmer.__version__}))"
    )
    proc = installed.run("python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts == {
        "missing": ["torch", "transformers", "datasets", "openai"],
        "typed": True,
        "version": glimmer.__version__,
    }
    meta = installed.run(
        "python",
        "-c",
        "import importlib.metadata as m; d = m.metadata('glimmer-dsl');"
        "print(d['Version'], d['License-Expression'], m.version('glimmer-dsl'))",
    )
    assert meta.stdout.split() == [glimmer.__version__, "MIT", glimmer.__version__], meta.stderr


def test_version_and_check_on_an_example(installed: Installed) -> None:
    for cmd in (("glimmer", "--version"), ("python", "-m", "glimmer", "--version")):
        proc = installed.run(*cmd)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"glimmer {glimmer.__version__}"
    example = installed.source / "examples" / "patterns" / "starweave-seed.glimmer"
    proc = installed.run("glimmer", "check", str(example))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{example}: ok" in proc.stdout


def test_plan_needs_no_extra(installed: Installed) -> None:
    proc = installed.run(
        "glimmer", "plan", "mistral", "--method", "qlora", "--gpu", "24GB", "--auto", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fits"] is True


@pytest.mark.parametrize(
    ("args", "extra", "written"),
    [
        (("fit", "data", "-o", "fit-out"), "train", "fit-out"),
        (("demo", "--quick", "-o", "demo-out"), "train", "demo-out"),
        (("compare", "--adapter", "adapter", "-o", "report.html"), "train", "report.html"),
        (
            ("expand", "seed.jsonl", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"),
            "expand",
            "REVIEW.jsonl",
        ),
    ],
)
def test_commands_name_the_missing_extra_and_write_nothing(
    installed: Installed, tmp_path: Path, args: tuple[str, ...], extra: str, written: str
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("", "utf-8")
    (tmp_path / "adapter").mkdir()
    (tmp_path / "seed.jsonl").write_text("", "utf-8")
    before = set(tmp_path.iterdir())
    proc = installed.run("glimmer", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "G005" in proc.stderr
    assert f'pip install "glimmer-dsl[{extra}]"' in proc.stderr
    assert set(tmp_path.iterdir()) == before
    assert not (tmp_path / written).exists()


def test_public_functions_raise_the_missing_extra(installed: Installed, tmp_path: Path) -> None:
    code = """
import glimmer
calls = {
    "fit": lambda: glimmer.fit("data", output_dir="fit-out"),
    "compare": lambda: glimmer.compare("smollm2-135m", "adapter"),
    "run_demo": lambda: glimmer.run_demo("demo-out"),
    "generate": lambda: glimmer.generate,
    "merge": lambda: glimmer.merge("adapter", "merged"),
}
for name, call in calls.items():
    try:
        call()
    except glimmer.GlimmerError as exc:
        print(name, exc.code, exc.extra)
"""
    proc = installed.run("python", "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [f"{n} G005 train" for n in ("fit", "compare", "run_demo", "generate", "merge")]
    assert not any(tmp_path.iterdir())
