"""``python -m pxrules`` is the ``pxrules`` command."""

from .cli.main import main

if __name__ == "__main__":
    main()
