"""`python -m autonomous_dev`."""

from .launch import main

main()
