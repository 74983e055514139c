"""The command-line interface: the only composition root, and the only user of click."""

from . import init, intake, run, settings, status
from .app import cli, main

__all__ = ["cli", "init", "intake", "main", "run", "settings", "status"]
