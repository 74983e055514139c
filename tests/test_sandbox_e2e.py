"""A test file the model writes, run by `run_tests` and by the gate in the sandbox, cannot reach the host."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor, tool_use

NAME = "probed"
PROBE = """\
import os, pathlib, socket, subprocess


def attempt():
    leaks = []
{body}
    return leaks


def test_probe():
    leaks = attempt()
    pathlib.Path("probe-report.txt").write_text("\\n".join(leaks) or "blocked")
    assert not leaks, leaks
"""


def probe_run(stage: Stage, body: str, **env: str) -> tuple[str, str]:
    """The model writes tests/test_probe.py and runs it; then the gate runs it. (the run_tests result, the
    report the gate's run pushed). Each probe appends to `leaks` what it managed to do."""
    test = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    stage.publish(NAME, {"calc.py": "def add(a, b):\n    return a + b\n", "test_calc.py": test})
    probe = PROBE.format(body=textwrap.indent(textwrap.dedent(body), "    "))
    number = stage.github.add_issue(OWNER, NAME, "Probe", "Add a probe.", labels=["autonomous-dev"])
    steps = [[text_editor("create", path="tests/test_probe.py", file_text=probe)], [tool_use("run_tests")],
             [text_block("Probed.")]]  # fmt: skip
    stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME=NAME, **env))
    assert result.returncode == 0, result.stderr[-3000:]
    tool_result = json.dumps(stage.claude.message_requests()[2]["messages"][-1])
    assert "exit code 0" in tool_result and "test_probe" not in tool_result, tool_result
    [pull] = stage.github.pulls(OWNER, NAME)
    assert pull["draft"] is False and "✅ checks pass" in pull["body"], pull["body"]
    report = stage.github.file_at(OWNER, NAME, pull["head"], "probe-report.txt")
    return tool_result, report


def test_a_test_file_cannot_read_the_daemons_home_or_work_dir(stage: Stage, tmp_path: Path) -> None:
    home = tmp_path / "daemon-home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "secret.txt").write_text("home secret\n")
    other = stage.work_dir / "worktrees" / OWNER / "other" / "slot-1"
    other.mkdir(parents=True)
    (other / "secret.txt").write_text("other task\n")
    work = stage.work_dir
    body = f"""
    work = pathlib.Path({str(work)!r})
    for path in [work / "state.db", work / "other.txt", pathlib.Path({str(other)!r}) / "secret.txt",
                 pathlib.Path({str(home)!r}) / ".config" / "secret.txt",
                 work / "mirrors" / "{OWNER}" / "{NAME}.git" / "config", *work.glob("github-etags-*.json")]:
        try:
            leaks.append(f"read {{path}}: {{path.read_bytes()[:20]!r}}")
        except OSError:
            pass
    seen = set(os.listdir(work)) if work.is_dir() else set()
    if seen - {{"worktrees", "tmp"}}:  # mount points of its own worktree and private HOME, nothing else
        leaks.append(f"listed WORK_DIR: {{sorted(seen)}}")
    """
    (work / "other.txt").parent.mkdir(parents=True, exist_ok=True)
    (work / "other.txt").write_text("work dir file\n")
    _, report = probe_run(stage, body, HOME=str(home))
    assert report == "blocked"
    assert (work / "state.db").is_file() and list(work.glob("github-etags-*.json"))  # they were there to read
    assert (work / "mirrors" / OWNER / f"{NAME}.git" / "config").is_file()


def test_a_test_file_cannot_read_the_daemons_environment_in_proc(stage: Stage) -> None:
    body = """
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ, cmdline = (entry / "environ").read_bytes(), (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ANTHROPIC_API_KEY" in environ or b"GITHUB_TOKEN" in environ or b"autonomous_dev" in cmdline:
            leaks.append(f"/proc/{entry.name} belongs to the daemon")
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    if len(pids) > 10:
        leaks.append(f"{len(pids)} processes visible")
    """
    _, report = probe_run(stage, body)
    assert report == "blocked"


def test_a_test_file_cannot_connect_to_the_github_stand_in(stage: Stage) -> None:
    ports = [urlsplit(stage.github.api_url).port, urlsplit(stage.claude.url).port]
    body = f"""
    for port in {ports!r}:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
            leaks.append(f"connected to {{port}}")
        except OSError:
            pass
    """
    _, report = probe_run(stage, body)
    assert report == "blocked"  # while the daemon itself used both ports throughout


def test_a_test_file_cannot_write_outside_its_worktree(stage: Stage, tmp_path: Path) -> None:
    name = f"escape-{uuid.uuid4().hex[:8]}.txt"
    home = tmp_path / "daemon-home"
    home.mkdir()
    targets = [stage.work_dir / name, stage.work_dir / "worktrees" / OWNER / name, tmp_path / name,
               home / name, Path("/tmp") / name, Path("/usr") / name]  # fmt: skip
    body = f"""
    for target in {[str(t) for t in targets]!r}:
        try:
            pathlib.Path(target).write_text("escaped")
        except OSError:
            pass
    """
    probe_run(stage, body, HOME=str(home))
    assert [str(t) for t in targets if t.exists()] == []


def test_a_test_file_cannot_plant_a_git_hook_or_config_that_runs_on_the_host(
    stage: Stage, tmp_path: Path
) -> None:
    marker = tmp_path / "ran-on-the-host"
    hook = f"#!/bin/sh\\ntouch {marker}\\n"
    body = f"""
    def plant(gitdir):
        (gitdir / "hooks").mkdir(parents=True, exist_ok=True)
        for name in ("pre-commit", "post-commit", "post-checkout", "pre-push", "reference-transaction"):
            (gitdir / "hooks" / name).write_text({hook!r})
            (gitdir / "hooks" / name).chmod(0o755)
        with open(gitdir / "config", "a") as config:
            config.write("[core]\\n\\tfsmonitor = touch {marker}\\n\\thooksPath = hooks\\n")

    # The real git directory (in the mirror): what lands there is checked on the host afterwards.
    real = pathlib.Path(pathlib.Path(".git").read_text().split("gitdir:")[-1].strip())
    for gitdir in (real, real.parent.parent):
        try:
            plant(gitdir)
        except OSError:
            pass
    fake = pathlib.Path("evil-git")
    (fake / "objects").mkdir(parents=True, exist_ok=True)
    (fake / "refs").mkdir(exist_ok=True)
    (fake / "HEAD").write_text("ref: refs/heads/main\\n")
    plant(fake)
    try:
        pathlib.Path(".git").write_text(f"gitdir: {{fake.resolve()}}\\n")
        leaks.append("rewrote the .git pointer")
    except OSError:
        pass
    subprocess.run(["git", "config", "core.fsmonitor", "touch {marker}"], capture_output=True)
    subprocess.run(["git", "config", "--global", "core.fsmonitor", "touch {marker}"], capture_output=True)
    """
    _, report = probe_run(stage, body)
    assert report == "blocked"
    assert not marker.exists()  # the tool committed and pushed after the probe ran: nothing ran
    slots = list((stage.work_dir / "worktrees" / OWNER / NAME).iterdir())  # the task's, the baseline's
    assert slots and all(str(stage.work_dir / "mirrors") in (slot / ".git").read_text() for slot in slots)
    mirror = stage.work_dir / "mirrors" / OWNER / f"{NAME}.git"
    planted = [p for p in mirror.rglob("*") if p.name in ("post-commit", "pre-push", "reference-transaction")]
    assert planted == [] and "fsmonitor" not in (mirror / "config").read_text()
