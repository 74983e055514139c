"""Attacks on the push guard, git path parsing, the tool layer and the search, through the real CLI."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from autonomous_dev.core.agent import Agent, Budget
from autonomous_dev.core.tools import Toolbox
from autonomous_dev.errors import BudgetExceeded
from autonomous_dev.git.blobs import pushed_blobs
from autonomous_dev.security.guard import MAX_SCAN_BYTES, new_secrets, readings
from autonomous_dev.security.redact import Redactor
from tests.conftest import NAME, OWNER, Stage
from tests.fakes import ScriptedClaude, make_template
from tests.helpers import git, run_cli
from tests.secret_samples import FIXED
from tests.standins.anthropic_server import JSON, Script, text_block, text_editor, tool_use


def planted(seed: int) -> str:
    """A GitHub token the model 'copied from the issue' into a file."""
    return FIXED["github_token"](random.Random(seed))[1]


def run_script(stage: Stage, steps: list[list[JSON]], **env: str) -> tuple[int, str, list[dict[str, object]]]:
    """File an issue, let the scripted model take `steps`, run one cycle; exit code, stderr, pulls."""
    number = stage.github.add_issue(OWNER, NAME, "Add data", "Add the data file.", labels=["autonomous-dev"])
    stage.claude.scripts.append(Script([*steps, [text_block("Done.")]], match=f'<issue number="{number}">'))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(LOG_FORMAT="json", **env))
    return result.returncode, result.stderr, stage.github.pulls(OWNER, NAME)


def raw_git(path: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True).stdout


def events(stderr: str, name: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == name]


# -- class 7: the push guard reads every pushed blob, not the diff text ----


def utf16(text: str) -> str:
    """`text` as UTF-16LE bytes, written through the editor (which stores UTF-8: ASCII + NUL is the same)."""
    return "".join(f"{char}\0" for char in text)


# Test code writing a 9 MiB file into the worktree (tracked, so it survives the clean-up of check runs).
GROW_DATA = "python3 -c \"open('README.md', 'ab').write(bytes(9 * 1024 * 1024))\""

HIDDEN_SECRETS = {
    "nul byte": lambda s: {"data.bin": f"\0\1\2header\0{s}\0trailer"},
    "-diff attribute": lambda s: {".gitattributes": "*.txt -diff\n", "notes.txt": f"token = {s}\n"},
    "binary macro": lambda s: {".gitattributes": "*.dat binary\n", "blob.dat": f"key: {s}\n"},
    "utf-16 file": lambda s: {"strings.txt": utf16(f"token={s}\n")},
    "utf-16 with NUL header": lambda s: {"res.bin": "\0\0\0\0" + utf16(s)},
}


@pytest.mark.parametrize("variant", sorted(HIDDEN_SECRETS))
def test_secrets_hidden_from_git_diff_are_not_pushed(stage: Stage, variant: str) -> None:
    secret = planted(len(variant))
    files = HIDDEN_SECRETS[variant](secret)
    code, stderr, pulls = run_script(
        stage, [[text_editor("create", path=path, file_text=text) for path, text in files.items()]]
    )
    assert code == 1, stderr[-2000:]
    assert pulls == []
    assert not [b for b in stage.github.branches(OWNER, NAME) if b.startswith("auto/")]
    [violation] = events(stderr, "security_violation")
    assert "github_token" in str(violation["message"])
    assert secret not in stderr


def test_a_textconv_planted_by_repository_code_does_not_hide_a_secret(stage: Stage) -> None:
    """Test code may set a textconv driver in the shared git config; the guard reads the blob itself."""
    secret = planted(7)
    steps = [
        [
            text_editor("create", path=".gitattributes", file_text="*.cfg diff=hide\n"),
            text_editor("create", path="app.cfg", file_text=f"password={secret}\n"),
        ],
    ]
    code, stderr, pulls = run_script(stage, steps, TEST_COMMAND="git config diff.hide.textconv true")
    assert code == 1, stderr[-2000:]
    assert pulls == []
    assert events(stderr, "security_violation")


def test_a_secret_already_in_the_base_file_may_move(stage: Stage) -> None:
    """The guard compares with the base blob: editing around an existing secret is not a new secret."""
    secret = planted(11)
    stage.publish("vault", {"data.bin": f"\0old\0{secret}\0"})
    number = stage.github.add_issue(OWNER, "vault", "Tidy", "Reorder the data.", labels=["autonomous-dev"])
    steps = [[text_editor("create", path="data.bin", file_text=f"\0{secret}\0new\0")], [text_block("Done.")]]
    stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="vault"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(stage.github.pulls(OWNER, "vault")) == 1


def test_large_files_are_refused_not_pushed_unread(stage: Stage) -> None:
    code, stderr, pulls = run_script(stage, [[tool_use("run_tests")]], TEST_COMMAND=GROW_DATA)
    assert code == 1, stderr[-2000:]
    assert pulls == []
    assert "too large to check" in str(events(stderr, "security_violation")[0]["message"])


# -- class 8: paths from git are read NUL-separated, never C-quoted ----


def tree(stage: Stage, ref: str) -> list[str]:
    listing = git(stage.github.state.repo(OWNER, NAME).path, "ls-tree", "-r", "-z", "--name-only", ref)
    return [name for name in listing.split("\0") if name]


@pytest.mark.parametrize(
    "name", ["café.yml", "tab\there.yml", 'quote".yml', "new\nline.yml", "back\\slash.yml", "ÿ🙂.yaml"]
)
def test_workflow_files_with_quoted_names_stay_out_of_the_pull_request(stage: Stage, name: str) -> None:
    path = f".github/workflows/{name}"
    steps = [
        [
            text_editor("create", path=path, file_text="on: push\njobs: {}\n"),
            text_editor("create", path="NOTE.md", file_text="note\n"),
        ]
    ]
    code, stderr, pulls = run_script(stage, steps)
    assert code == 0, stderr[-2000:]
    [pull] = pulls
    files = tree(stage, pull["head"])
    assert "NOTE.md" in files
    assert not [f for f in files if f.startswith(".github/")], files
    [violation] = events(stderr, "security_violation")
    assert "left workflow changes out" in str(violation["message"])
    assert "NOTE.md" in str(pull["body"]) and ".github/workflows" not in str(pull["body"])


def test_a_secret_removed_in_a_later_commit_is_still_refused(tmp_path: Path) -> None:
    """Every commit of the branch is pushed, so every blob of each is read (a rebase makes several)."""
    repo = make_template(tmp_path / "repo", {"README.md": "# x\n"})
    base = git(repo, "rev-parse", "HEAD").strip()
    secret, in_name = planted(21), planted(22)
    (repo / "a.txt").write_text(f"{secret}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add")
    (repo / "a.txt").write_text("clean\n")
    (repo / f"{in_name}.txt").write_text("")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remove")
    blobs = pushed_blobs(lambda *args: raw_git(repo, *args), base, MAX_SCAN_BYTES)
    found = new_secrets(blobs, Redactor().findings)
    assert sorted((item.path, item.detector) for item in found) == [
        ("a.txt", "github_token"),
        (f"{in_name}.txt", "github_token"),
    ]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16"])
def test_readings_see_utf16_text_at_any_alignment(encoding: str) -> None:
    secret = planted(3)
    for prefix in (b"", b"\x01", b"\x00\x01\x02"):
        text = readings(prefix + f"key={secret}".encode(encoding))
        assert secret in text, (encoding, prefix)


# -- class 10: a search runs in linear time; the time budget holds while a tool runs ----

CATASTROPHIC = ["(a+)+$", "(a|aa)+$", "(a*)*b", "(\\w+\\s?)+$", "(.*a){25}x"]


def tool_results(stage: Stage) -> list[dict[str, object]]:
    last = stage.claude.message_requests()[-1]["messages"]
    return [block for m in last if isinstance(m["content"], list) for block in m["content"]
            if block.get("type") == "tool_result"]  # fmt: skip


def test_catastrophic_patterns_finish_and_unsupported_ones_are_named(stage: Stage) -> None:
    stage.publish("slow", {"long.txt": "a" * 40_000 + "!\n", "calc.py": "x = 1\n"})
    number = stage.github.add_issue(OWNER, "slow", "Find", "Search.", labels=["autonomous-dev"])
    steps = [
        [tool_use("search", pattern=p) for p in CATASTROPHIC],
        [tool_use("search", pattern="(a)\\1")],
        [text_block("Nothing.")],
    ]
    stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="slow"), timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    first = stage.claude.message_requests()[-2]["messages"][-1]["content"]
    assert [block["is_error"] for block in first] == [False] * len(CATASTROPHIC)
    [backreference] = tool_results(stage)[-1:]
    assert backreference["is_error"] and "RE2" in str(backreference["content"])
    assert "E0000" not in result.stderr  # RE2 does not log the model's bad pattern itself


def test_the_time_limit_holds_while_the_tests_run(stage: Stage) -> None:
    """A test run the model starts is cut at the task's time limit (15 s), not the 10-minute timeout."""
    slow = "python3 -c 'import sys, time; time.sleep(300 if sys.argv[1:] else 0)'"
    steps = [[tool_use("run_tests", args="slow")], [text_editor("create", path="x.txt", file_text="x\n")]]
    started = time.monotonic()
    code, stderr, pulls = run_script(
        stage, steps, TEST_COMMAND=slow, TIMEOUT_MINUTES="0.25", EVALUATION_TIMEOUT_SECONDS="600"
    )
    assert time.monotonic() - started < 65  # the limit plus start-up, on a loaded machine
    assert code == 1 and "time budget spent" in stderr, stderr[-2000:]
    assert pulls == []


# -- class 9: malformed tool input is an answer the model corrects, not the end of the task ----


def test_malformed_tool_calls_do_not_end_the_task(stage: Stage) -> None:
    malformed = [
        text_editor("view", path="calc.py", view_range="1-5"),
        text_editor("view", path="calc.py", view_range=[1]),
        text_editor("create", path="calc.py/inner.py", file_text="x"),
        text_editor("create", path="d/" * 3000 + "x.py", file_text="x"),
        text_editor("view", path="cal\0c.py"),
        text_editor("insert", path="calc.py", insert_line="1", insert_text="x"),
        tool_use("search", pattern="x", path="\0"),
        tool_use("run_tests", args="-k 'unclosed"),
    ]
    steps = [malformed, [text_editor("create", path="NOTE.md", file_text="note\n")]]
    code, stderr, pulls = run_script(stage, steps)
    assert code == 0, stderr[-2000:]
    assert len(pulls) == 1
    answers = stage.claude.message_requests()[1]["messages"][-1]["content"]
    assert [block["is_error"] for block in answers] == [True] * len(malformed)


def test_a_repair_round_keeps_the_task_deadline_and_starts_no_tool_after_it(tmp_path: Path) -> None:
    ran: list[list[str]] = []
    box = Toolbox(tmp_path, run_tests=lambda argv, *_: str(ran.append(argv)))
    claude = ScriptedClaude(["first answer", [("run_tests", {"args": "-x"})], "done"])
    agent = Agent(claude, "system", Budget(max_turns=10, max_tokens=10**6, max_seconds=0.5))
    first = agent.run("task", box)
    time.sleep(0.6)  # the checks took longer than the task's whole budget
    with pytest.raises(BudgetExceeded, match=r"time budget spent: still working after 0\.5 seconds"):
        agent.resume(first, "the checks fail", box)
    assert ran == []
