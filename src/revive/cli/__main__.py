"""`python -m revive.cli` runs the command line, as the `revive` script does."""

from .app import main

main()
