"""Load YAML into plain Python values, keeping where every value and key stands.

What this adds over ``yaml.safe_load``:

- every value's and key's ``line:col`` is kept, keyed by its path (``("rules", 2, "when")``);
- tags other than the plain YAML ones (``!!python/...``, custom ``!tags``) are problems;
- duplicate mapping keys are problems (``safe_load`` silently keeps the last);
- aliases work, but expanding them is bounded in node count and depth (alias bombs);
- YAML 1.1 surprises are problems with a hint: ``on``/``yes``/``no``/``off`` as booleans
  (except under keys known to be booleans), ``1:30`` (= 90), ``017`` (= 15), ``0x1F``, ``1_000``;
- mapping keys are always the text as written; dates stay strings.

>>> doc = load_yaml("a:\\n  b: [1, x]\\n")
>>> doc.data, doc.mark_of(("a", "b", 1))
({'a': {'b': [1, 'x']}}, Mark(line=2, column=10))
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)", re.ASCII)
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}
_TRUE_FALSE = {"true": True, "false": False}
_MAX_NUMBER_CHARS = 100  # Python refuses int("9" * 5000); no sensible rule needs more
_BOOL_WORDS = {"yes": True, "on": True, "y": True, "no": False, "off": False, "n": False}


@dataclass(frozen=True, slots=True, order=True)
class Mark:
    """A 1-based position in the file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class YamlIssue:
    """A problem found while loading: where, and what."""

    path: Path
    mark: Mark
    message: str


class YamlFatal(Exception):
    """Loading cannot go on (syntax error, alias bomb, empty file)."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


@dataclass
class YamlDocument:
    data: Any
    value_marks: dict[Path, Mark] = field(default_factory=dict)
    key_marks: dict[Path, Mark] = field(default_factory=dict)
    issues: list[YamlIssue] = field(default_factory=list)

    def mark_of(self, path: Path, *, key: bool = False) -> Mark:
        """Where ``path`` stands; the key's position with ``key=True``; else the nearest parent."""
        path = tuple(path)
        while True:
            if key and path in self.key_marks:
                return self.key_marks[path]
            if path in self.value_marks:
                return self.value_marks[path]
            if not path:
                return Mark(1, 1)
            path = path[:-1]
            key = False


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


class _Builder:
    def __init__(
        self, bool_keys: Collection[str], max_nodes: int, max_depth: int, max_alias_nodes: int
    ) -> None:
        self.bool_keys = bool_keys
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.max_alias_nodes = max_alias_nodes
        self.nodes = 0
        self.alias_nodes = 0  # values produced by walking an alias again
        self.sizes: dict[int, int] = {}  # node id → values it expanded to, once built
        self.doc = YamlDocument(data=None)
        self.active: set[int] = set()  # composite nodes on the current walk: a cycle if seen again

    def issue(self, path: Path, node: yaml.Node, message: str) -> None:
        self.doc.issues.append(YamlIssue(path, _mark(node), message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise YamlFatal(
                f"the document expands to more than {self.max_nodes} values "
                "(aliases that multiply, an 'alias bomb'?)",
                _mark(node),
            )
        if len(path) > self.max_depth:
            raise YamlFatal(f"nested more than {self.max_depth} levels deep", _mark(node))
        self.doc.value_marks.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise YamlFatal("an alias refers to a node that contains it (a cycle)", _mark(node))
        if id(node) in self.sizes:
            # An alias: refuse before walking it if the copies would add up too much.
            self.alias_nodes += self.sizes[id(node)]
            if self.alias_nodes > self.max_alias_nodes:
                raise YamlFatal(
                    f"aliases expand to more than {self.max_alias_nodes} values (an 'alias bomb'?)",
                    _mark(node),
                )
        self.active.add(id(node))
        before = self.nodes
        try:
            if isinstance(node, yaml.SequenceNode):
                self.check_tag(node, path, "seq")
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            self.check_tag(node, path, "map")
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
            self.sizes.setdefault(id(node), self.nodes - before)

    def check_tag(self, node: yaml.Node, path: Path, expected: str) -> None:
        if node.tag != _TAG + expected:
            self.issue(path, node, self.unsafe_tag_message(node.tag))

    @staticmethod
    def unsafe_tag_message(tag: str) -> str:
        return (
            f"tag {_short_tag(tag)} is not allowed: rules files are plain YAML "
            "(no Python objects or custom tags)"
        )

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Mark] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.update(self.merge_source(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.issue(path, key_node, "a mapping key must be plain text, not a collection")
                continue
            key = str(key_node.value)
            if key in first_seen:
                first = first_seen[key]
                self.issue(
                    (*path, key),
                    key_node,
                    f"duplicate key {key!r} (first at line {first.line}); "
                    "YAML would silently keep only the last one",
                )
                continue
            first_seen[key] = _mark(key_node)
            self.doc.key_marks[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def merge_source(self, node: yaml.Node, path: Path) -> dict[str, Any]:
        """``<<: *anchor`` or ``<<: [*a, *b]``: earlier sources win, explicit keys win over all."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            value = self.build(source, path)
            if not isinstance(value, dict):
                self.issue(path, source, "'<<' merges only mappings")
                continue
            merged.update(value)
        return merged

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        text: str = node.value
        tag: str = node.tag
        name = tag[len(_TAG) :] if tag.startswith(_TAG) else None
        if name in ("str", "timestamp"):  # dates stay text: PxServ values are strings
            return text
        if name == "null":
            return None
        if name == "bool":
            lowered = text.lower()
            if lowered in _TRUE_FALSE:
                return _TRUE_FALSE[lowered]
            last = path[-1] if path else None
            if isinstance(last, str) and last in self.bool_keys:
                return _BOOL_WORDS[lowered]
            self.issue(
                path,
                node,
                f"YAML 1.1 reads {text!r} as the boolean {_BOOL_WORDS[lowered]}; "
                f'quote it ("{text}") if you mean the text, or write '
                f"{str(_BOOL_WORDS[lowered]).lower()}",
            )
            return text
        if name in ("int", "float") and len(text) > _MAX_NUMBER_CHARS:
            self.issue(path, node, f"a number of {len(text)} characters: quote it if it is text")
            return text
        if name == "int":
            if _PLAIN_INT.fullmatch(text):
                return int(text)
            return self.surprising_number(node, path)
        if name == "float":
            if _PLAIN_FLOAT.fullmatch(text):
                return float(text)
            lowered = text.lower()
            if lowered in _SPECIAL_FLOAT:
                return _SPECIAL_FLOAT[lowered]
            if lowered in (".nan", "+.nan", "-.nan"):
                return float("nan")
            return self.surprising_number(node, path)
        self.issue(path, node, self.unsafe_tag_message(tag))
        return None

    def surprising_number(self, node: yaml.ScalarNode, path: Path) -> str:
        text: str = node.value
        try:
            reading = repr(yaml.load(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            reading = "a number"
        hint = 'write 90s or "1m30s" for a duration' if ":" in text else "write it plainly"
        self.issue(
            path,
            node,
            f'YAML 1.1 reads {text!r} as {reading}; quote it ("{text}") if you mean the text, '
            f"or {hint}",
        )
        return text


def _is_tab(text: str, line: int, column: int) -> bool:
    lines = text.splitlines()
    return 0 <= line < len(lines) and lines[line][column : column + 1] == "\t"


def load_yaml(
    text: str,
    *,
    bool_keys: Collection[str] = (),
    max_nodes: int = 1_000_000,
    max_depth: int = 64,
    max_alias_nodes: int = 10_000,
) -> YamlDocument:
    """Compose and build one YAML document. Raises :class:`YamlFatal` when nothing can be read.

    ``bool_keys`` are mapping keys whose values may be YAML 1.1 booleans (``snapshot: yes``).
    """
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        if mark is not None and _is_tab(text, mark.line, mark.column):
            message = "a tab character: YAML is indented with spaces, never tabs"
            raise YamlFatal(f"YAML syntax error: {message}", where) from None
        raise YamlFatal(f"YAML syntax error: {problem}{context}", where) from None
    except yaml.YAMLError as exc:
        raise YamlFatal(f"YAML error: {str(exc)[:200]}", Mark(1, 1)) from None
    except RecursionError:
        raise YamlFatal("the document is nested too deeply", Mark(1, 1)) from None
    if root is None:
        raise YamlFatal("the file is empty", Mark(1, 1))
    builder = _Builder(bool_keys, max_nodes, max_depth, max_alias_nodes)
    try:
        builder.doc.data = builder.build(root, ())
    except RecursionError:
        raise YamlFatal("the document is nested too deeply", Mark(1, 1)) from None
    return builder.doc
