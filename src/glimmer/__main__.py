"""``python -m glimmer``: the same command line as the ``glimmer`` script."""

from glimmer.cli import main

if __name__ == "__main__":  # pragma: no branch
    main()
