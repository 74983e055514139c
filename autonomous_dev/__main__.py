"""`python -m autonomous_dev`."""

from .cli import entry_point

entry_point()
