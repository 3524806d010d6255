"""Read a YAML file safely: UTF-8 only, alias expansion bounded, errors as one short line.

PyYAML's safe loader shares aliased nodes while composing but copies them when the data is
built, so nine nested aliases of nine items ("billion laughs") turn a 600-byte file into 10^9
objects. The node graph is measured before anything is built: a file whose expanded size
goes over `MAX_NODES` is refused.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml

# A real config has a few hundred nodes; this leaves room for big rule lists.
MAX_NODES = 100_000
MAX_BYTES = 4_000_000  # a config, not a data file: refuse /dev/zero and the like
EXCERPT_CHARS = 80

_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxdict = 4
_repr.maxlist = 4
_repr.maxstring = 60
_repr.maxother = 60


class YamlFileError(ValueError):
    """The file cannot be read as YAML; the message is one line, without the path."""


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A short repr of any value (bounded work and length, whatever its size)."""
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes the data would have once every alias is copied; stops counting past `limit`."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep file must not hit Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in open_nodes:
                raise YamlFileError("an alias refers to a node that contains it (recursive data)")
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(key)
        size = 1 + sum(sizes[id(child)] for child in children)
        sizes[key] = min(size, limit + 1)
        if size > limit:
            return size
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def load_yaml_file(path: Path, max_nodes: int = MAX_NODES) -> Any:
    """The data of a YAML file; `YamlFileError` for bad encoding, syntax or alias bombs.

    `OSError` (missing or unreadable file) is left to the caller.
    """
    if path.exists() and not path.is_dir() and not path.is_file():
        raise YamlFileError("not a regular file (a device or a pipe?)")
    with path.open("rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlFileError(f"larger than {MAX_BYTES:,} bytes; refused")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlFileError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, max_nodes)
        if size > max_nodes:
            raise YamlFileError(
                f"aliases expand to more than {max_nodes:,} values; refused (an alias bomb?)"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        reason = f"{context}: {problem}" if context else str(problem)
        raise YamlFileError(f"not valid YAML{_mark(exc)} ({excerpt_text(reason)})") from None
    except RecursionError:
        raise YamlFileError("nested too deeply to read") from None
    finally:
        loader.dispose()


def excerpt_text(text: str, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
