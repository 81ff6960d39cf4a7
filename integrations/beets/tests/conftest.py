"""Fixtures for the plugin's tests: the covergenre-classify binary under test, the colour
model, beets' captured-IO fixture, and a wrapper command that records each classify run."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest
from beets.test._common import DummyIO

import media

REPO = Path(__file__).resolve().parents[3]


def classifier_path() -> Path:
    """$COVERGENRE_CLASSIFY (scripts/test.sh sets it from cargo's target folder), else the
    debug build in the repository's target folder."""
    named = os.environ.get("COVERGENRE_CLASSIFY")
    path = Path(named) if named else REPO / "target" / "debug" / "covergenre-classify"
    if not path.is_file():
        pytest.exit(
            f"covergenre-classify not found at {path}: build it (`cargo build`) or set "
            "COVERGENRE_CLASSIFY to its path",
            returncode=2,
        )
    return path


@pytest.fixture(scope="session")
def classifier() -> Path:
    return classifier_path()


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory) -> Path:
    return media.colour_model(tmp_path_factory.mktemp("model") / "colour.onnx")


@pytest.fixture
def io(request, monkeypatch, capteesys) -> DummyIO:
    """beets' own `io` fixture (from its test suite's conftest): stdin and captured stdout,
    also as `self.io` on test classes."""
    dummy = DummyIO(monkeypatch, capteesys)
    if request.instance:
        request.instance.io = dummy
    return dummy


RECORDER = """\
import json, subprocess, sys
log, real, args = sys.argv[1], sys.argv[2], sys.argv[3:]
stdin = sys.stdin.buffer.read()
with open(log, "a") as f:
    f.write(json.dumps({"args": args, "stdin": stdin.decode("utf-8", "replace")}) + "\\n")
done = subprocess.run([real, *args], input=stdin)
sys.exit(done.returncode)
"""


@pytest.fixture
def recorder(tmp_path, classifier):
    """A `command` that runs the real covergenre-classify and records each run (arguments
    and the album list on stdin) in runs.jsonl; returns (command, log path). Run through
    the Python interpreter, since the temporary folder may not allow running programs."""
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    log = tmp_path / "runs.jsonl"
    command = shlex.join([sys.executable, str(script), str(log), str(classifier)])
    return command, log
