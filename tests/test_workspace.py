"""GitWorkspaces: worktree slots are reused from task to task and leave nothing of the last task behind."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from autonomous_dev.errors import ConfigError, WorkspaceError
from autonomous_dev.git.work_dir import fresh_scratch, hold_work_dir
from autonomous_dev.git.workspace import GitIdentity, GitWorkspace, GitWorkspaces
from autonomous_dev.security.redact import Redactor

IDENTITY = GitIdentity("bot", "bot@example.invalid")


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository with `main`: app.py, a .gitignore for build/, and 50 other files."""
    source = tmp_path / "source"
    source.mkdir()
    git(source, "init", "--quiet", "--initial-branch=main")
    (source / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (source / ".gitignore").write_text("build/\n")
    for index in range(50):
        (source / f"module_{index}.py").write_text(f"VALUE = {index}\n")
    git(source, "add", "--all")
    git(source, "commit", "--quiet", "-m", "initial")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(bare))
    return bare


def push_to_main(origin: Path, tmp_path: Path, name: str, text: str) -> None:
    clone = tmp_path / f"pusher-{name}"
    git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    (clone / name).write_text(text)
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "-m", f"add {name}")
    git(clone, "push", "--quiet", "origin", "main")


def workspaces(origin: Path, work_dir: Path) -> GitWorkspaces:
    spaces = GitWorkspaces(work_dir, "acme/widgets", str(origin), "unused-token", IDENTITY, Redactor())
    spaces.sync()
    return spaces


def make_a_mess(workspace: GitWorkspace) -> None:
    """What a task leaves: a commit, an edited file, a new file, an ignored build output."""
    (workspace.path / "feature.py").write_text("FEATURE = True\n")
    workspace.commit("add feature")
    (workspace.path / "app.py").write_text("broken\n")
    (workspace.path / "notes.txt").write_text("scratch\n")
    (workspace.path / "build").mkdir()
    (workspace.path / "build" / "output.bin").write_bytes(b"\0" * 10)


def local_branches(spaces: GitWorkspaces) -> list[str]:
    return git(spaces.mirror_path, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()


def test_a_slot_is_reused_clean_for_the_next_task(origin: Path, tmp_path: Path) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    first = spaces.open("auto/1-first", "main")
    make_a_mess(first)
    untouched = (first.path / "module_7.py").stat().st_ino
    first.close()
    assert local_branches(spaces) == []

    second = spaces.open("auto/2-second", "main")
    assert second.path == first.path
    assert git(second.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "auto/2-second"
    assert git(second.path, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert not (second.path / "feature.py").exists()
    assert (second.path / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    # Reuse rewrote only what differs: a file both tasks share is the very same file on disk.
    assert (second.path / "module_7.py").stat().st_ino == untouched


def test_a_reused_slot_moves_to_the_fetched_base(origin: Path, tmp_path: Path) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    spaces.open("auto/1-first", "main").close()
    push_to_main(origin, tmp_path, "later.py", "LATER = 1\n")
    spaces.sync()
    workspace = spaces.open("auto/2-second", "main")
    assert (workspace.path / "later.py").read_text() == "LATER = 1\n"
    assert workspace.base_sha() == git(origin, "rev-parse", "main").strip()


def test_the_base_commit_is_the_one_the_task_started_from(origin: Path, tmp_path: Path) -> None:
    """Read once: a fetch that moves the base later does not change what the task's caches are keyed on."""
    spaces = workspaces(origin, tmp_path / "work")
    workspace = spaces.open("auto/1-first", "main")
    started = git(origin, "rev-parse", "main").strip()
    assert workspace.base_sha() == started
    push_to_main(origin, tmp_path, "later.py", "LATER = 1\n")
    spaces.sync()
    assert workspace.base_sha() == started
    assert spaces.open("auto/2-second", "main").base_sha() != started


def test_a_slot_closed_in_the_middle_of_a_rebase_is_reusable(origin: Path, tmp_path: Path) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    task = spaces.open("auto/1-first", "main")
    (task.path / "app.py").write_text("ours\n")
    task.commit("ours")
    task.push()
    push_to_main(origin, tmp_path, "app.py", "theirs\n")
    spaces.sync()
    assert task.integrate("rebase") == ["app.py"]
    task.close()

    again = spaces.open("auto/1-first", "main")
    assert again.path == task.path
    rebase_state = Path(again.path, git(again.path, "rev-parse", "--git-path", "rebase-merge").strip())
    assert not rebase_state.exists()
    assert (again.path / "app.py").read_text() == "theirs\n"
    assert git(again.path, "status", "--porcelain") == ""


def test_slots_left_by_a_killed_process_are_cleaned_and_reused(origin: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    killed = workspaces(origin, work_dir)
    left = killed.open("auto/1-first", "main")
    make_a_mess(left)  # never closed: the process died here

    spaces = workspaces(origin, work_dir)
    again = spaces.open("auto/1-first", "main")  # the same branch: the dead slot no longer holds it
    assert again.path == left.path
    assert not (again.path / "notes.txt").exists()
    assert not (again.path / "build").exists()
    assert (again.path / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_parallel_tasks_get_their_own_slots(origin: Path, tmp_path: Path) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    opened: list[GitWorkspace] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        workspace = spaces.open(f"auto/{number}-task", "main")
        (workspace.path / f"task_{number}.py").write_text(f"N = {number}\n")
        with lock:
            opened.append(workspace)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({w.path for w in opened}) == 4
    for workspace in opened:
        others = [p.name for p in workspace.path.glob("task_*.py")]
        assert others == [f"task_{workspace.branch.split('/')[1].split('-')[0]}.py"]
        workspace.close()
    assert sorted(p.name for p in spaces.worktree_root.iterdir()) == [f"slot-{n}" for n in range(1, 5)]


def test_parallel_reuse_never_writes_the_shared_config(origin: Path, tmp_path: Path) -> None:
    """Workers check out their branches in reused slots at the same moment; git's config lock is shared by
    every slot, so a checkout that recorded an upstream could fail with "could not lock config file"."""
    spaces = workspaces(origin, tmp_path / "work")
    config = spaces.mirror_path / "config"
    pristine = config.read_text()
    failures: list[Exception] = []

    def task(number: int) -> None:
        try:
            workspace = spaces.open(f"auto/{number}-task", "main")
            assert config.read_text() == pristine  # no branch.auto/... entry
            workspace.close()
        except Exception as exc:  # collected: an assertion in a thread would be lost
            failures.append(exc)

    for round_number in range(6):
        threads = [threading.Thread(target=task, args=(10 * round_number + n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(list(spaces.worktree_root.iterdir())) == 4  # the slots were reused, not replaced


def test_a_slot_that_cannot_be_reused_is_replaced(origin: Path, tmp_path: Path) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    first = spaces.open("auto/1-first", "main")
    first.close()
    (first.path / ".git").write_text("gitdir: /nonexistent\n")  # broken behind our back
    second = spaces.open("auto/2-second", "main")
    assert (second.path / "app.py").is_file()
    assert git(second.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "auto/2-second"


def test_only_our_branches_are_opened(origin: Path, tmp_path: Path) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    with pytest.raises(WorkspaceError, match="only auto/"):
        spaces.open("main", "main")


def test_hold_work_dir_names_the_setting_when_the_path_cannot_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as raised:
        hold_work_dir(tmp_path / "file" / "work")
    assert "WORK_DIR (execution.workDir, --work-dir)" in raised.value.message
    assert str(tmp_path / "file" / "work") in raised.value.message and raised.value.hint


def test_fresh_scratch_empties_what_a_killed_process_left_without_following_links(tmp_path: Path) -> None:
    work_dir, outside = tmp_path / "work", tmp_path / "outside"
    (work_dir / "tmp" / "autonomous-dev-home-x" / "tmp").mkdir(parents=True)
    (work_dir / "tmp" / "stray.txt").write_text("left behind")
    outside.mkdir()
    (outside / "keep.txt").write_text("not ours")
    (work_dir / "tmp" / "link").symlink_to(outside)
    assert fresh_scratch(work_dir) == work_dir / "tmp"
    assert list((work_dir / "tmp").iterdir()) == []
    assert (outside / "keep.txt").read_text() == "not ours"


def test_a_file_is_read_as_committed_in_a_commit_not_as_the_worktree_has_it(
    origin: Path, tmp_path: Path
) -> None:
    spaces = workspaces(origin, tmp_path / "work")
    workspace = spaces.open("auto/1-first", "main")
    base = workspace.base_sha()
    (workspace.path / "app.py").write_text("changed by the task\n")
    (workspace.path / "docs").mkdir()
    (workspace.path / "docs" / "new.md").write_text("new\n")
    (workspace.path / "link.md").symlink_to("app.py")
    workspace.commit("the task's change")
    assert workspace.file_at(base, "app.py", 1000) == (32, b"def add(a, b):\n    return a + b\n")
    assert workspace.file_at(base, "app.py", 3) == (32, b"def")
    assert workspace.file_at(base, "docs/new.md", 1000) is None  # not in that commit
    head = git(workspace.path, "rev-parse", "HEAD").strip()
    assert workspace.file_at(head, "docs/new.md", 1000) == (4, b"new\n")
    assert workspace.file_at(head, "link.md", 1000) is None  # a link is not followed
    assert workspace.file_at(head, "docs", 1000) is None  # nor a directory read
    assert workspace.file_at(head, "*.md", 1000) is None  # a name, never a pattern


def pushed_once(origin: Path, tmp_path: Path) -> GitWorkspaces:
    """Worktrees whose task branch `auto/1-first` was pushed once (one commit on main), then fetched."""
    spaces = workspaces(origin, tmp_path / "work")
    first = spaces.open("auto/1-first", "main")
    (first.path / "feature.py").write_text("FEATURE = 1\n")
    first.commit("add feature")
    first.push()
    first.close()
    spaces.sync()
    return spaces


def rewritten_branch(origin: Path, tmp_path: Path) -> GitWorkspace:
    """The pushed branch opened again from the base and committed to: its one commit replaced by another."""
    again = pushed_once(origin, tmp_path).open("auto/1-first", "main")
    (again.path / "feature.py").write_text("FEATURE = 2\n")
    again.commit("add feature, again")
    return again


def test_a_fast_forward_only_push_never_rewrites_the_branch(origin: Path, tmp_path: Path) -> None:
    workspace = rewritten_branch(origin, tmp_path)
    before = git(origin, "rev-parse", "auto/1-first").strip()
    with pytest.raises(WorkspaceError):
        workspace.push(fast_forward_only=True)
    assert git(origin, "rev-parse", "auto/1-first").strip() == before


def test_a_task_push_replaces_what_an_earlier_attempt_pushed(origin: Path, tmp_path: Path) -> None:
    workspace = rewritten_branch(origin, tmp_path)
    workspace.push()
    assert git(origin, "show", "auto/1-first:feature.py") == "FEATURE = 2\n"


def test_a_fast_forward_only_push_adds_the_commit_on_top(origin: Path, tmp_path: Path) -> None:
    round_ = pushed_once(origin, tmp_path).open("auto/1-first", "main")
    round_.continue_pushed()
    (round_.path / "feature.py").write_text("FEATURE = 3\n")
    round_.commit("review: change feature")
    round_.push(fast_forward_only=True)
    log = git(origin, "log", "--format=%s", "auto/1-first").split("\n")
    assert log[:2] == ["review: change feature", "add feature"]
