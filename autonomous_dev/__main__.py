"""`python -m autonomous_dev`."""

from .cli import main

main()
