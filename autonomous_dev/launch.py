"""The program (`autonomous-dev`, `python -m autonomous_dev`): the command-line interface imported with
the garbage collector paused (see `loading`)."""

from __future__ import annotations

from autonomous_dev import loading


def main() -> None:
    loading.begin()
    from autonomous_dev.cli import entry_point

    entry_point()
