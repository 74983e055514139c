"""The command-line interface: the only composition root, and the only user of click."""

from . import init, intake, run, settings, status
from .app import cli, entry_point, main

__all__ = ["cli", "entry_point", "init", "intake", "main", "run", "settings", "status"]
