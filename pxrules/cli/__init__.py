"""The ``pxrules`` command line: a thin click layer over the library (one module per command)."""

from .main import cli, main

__all__ = ["cli", "main"]
