"""The rules language: YAML → validated rules, with every problem at ``file:line:col``.

It knows nothing of the engine that runs rules or of the daemon that delivers their alerts:
``pxrules check`` needs only this package.
"""

from .load import load_config, load_file, load_text
from .model import Config, RuleDef
from .problems import LoadResult, Problem, RulesError

__all__ = [
    "Config",
    "LoadResult",
    "Problem",
    "RuleDef",
    "RulesError",
    "load_config",
    "load_file",
    "load_text",
]
