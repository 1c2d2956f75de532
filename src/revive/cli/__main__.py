"""`python -m revive.cli` runs the command line, as the `revive` script does."""

from .app import main

if __name__ == "__main__":  # batch's worker processes import this module again under another name
    main()
