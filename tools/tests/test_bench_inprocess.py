"""``tools/bench/inprocess.py`` drives every variant's real app to a 200 (no timing checked).

Run as the command, in its own process: the ``full`` variant installs the JSON log handler
on the root logger, which must not leak into other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "inprocess.py"


def test_each_variant_answers_the_call() -> None:
    # The script raises unless every call got a 200 from the app; numbers are not checked.
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "bare", "mounted", "auth", "full", "--calls", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "bare",
        "mounted",
        "auth",
        "full",
    ]
