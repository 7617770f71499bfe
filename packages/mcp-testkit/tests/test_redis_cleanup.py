"""Every topology's processes and folders are gone after a session, even a failing one.

A pytest session in a project of its own (only the installed plugin) uses every topology
fixture, records the servers' pids and folders, and fails on purpose; afterwards none of
those processes runs and none of the folders is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

INNER_TEST = textwrap.dedent(
    """
    import json
    import os
    from pathlib import Path

    RECORD = Path(os.environ["TESTKIT_RECORD"])


    def _record(name, nodes):
        data = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        data[name] = [[node.pid, str(node.directory)] for node in nodes]
        RECORD.write_text(json.dumps(data))


    def test_cluster_sentinel_acl(redis_cluster, redis_sentinel, redis_acl):
        _record("cluster", redis_cluster.nodes)
        _record("sentinel", redis_sentinel.all_nodes)
        _record("acl", redis_acl.nodes)
        assert False, "fails on purpose: session teardown must still stop everything"


    def test_tls(redis_tls, redis_mtls):
        _record("tls", [redis_tls, redis_mtls])
        redis_tls.pause()  # a frozen server must be stopped as well
    """
)


def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    zombie = "State:\tZ" in status
    return not zombie and (b"redis" in cmdline or b"valkey" in cmdline)


def test_nothing_is_left_running_after_a_failing_session(tmp_path: Path) -> None:
    project = tmp_path / "outside"
    project.mkdir()
    (project / "test_topologies.py").write_text(INNER_TEST)
    record = tmp_path / "record.json"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "MCP_")) and key != "PYTHONPATH"
    }
    env["TESTKIT_RECORD"] = str(record)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "1 failed" in output, output
    assert "fails on purpose" in output, output
    data = json.loads(record.read_text())
    assert {"cluster", "sentinel", "acl"} <= set(data), output
    assert len(data["cluster"]) == 3
    assert len(data["sentinel"]) == 5
    for name, nodes in data.items():
        for pid, directory in nodes:
            assert pid, f"{name} server was not running during the test"
            assert not _alive(pid), f"{name} server {pid} still runs"
            assert not Path(directory).exists(), f"{name} left {directory}"
