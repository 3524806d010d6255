"""Traditional-to-Simplified conversion (OpenCC t2s) that leaves alone the text OpenCC keeps.

OpenCC converts by dictionary lookup: it segments the text by forward maximum matching against
the keys of its dictionaries and replaces each matched key by its value; characters no key
matches are copied. A character that occurs in no key ("key character") can never be inside a
match, so OpenCC's output is the concatenation of its outputs on the pieces the text splits
into at such characters. A piece converts to itself unless a key whose value differs from it
occurs in the piece, and every such key holds a "changed character" (one at a position where
key and value differ). So `to_simplified` hands OpenCC only the runs of key characters that
contain a changed character and copies the rest: most Simplified news text (95% of the corpus)
needs no or a few short OpenCC calls instead of one over the whole text.

The two character sets come from the installed OpenCC's own dictionaries (dumped with its
`opencc_dict` tool by `generate_chars`) and are stored in `dedup/t2s_chars.py` with the
digest of the files they came from. When the installed configuration or dictionaries differ
(another OpenCC version), every text goes through OpenCC whole, as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHANGED",
    "KEY",
    "MAX_RUNS",
    "convert_changed",
    "converter",
    "dictionary_digest",
    "dictionary_entries",
    "flag_table",
    "generate_chars",
    "opencc_dict_tool",
    "to_simplified",
    "to_simplified_whole",
]

logger = logging.getLogger(__name__)

CONFIG = "t2s"
# Flag bits per code point: KEY = occurs in some dictionary key; CHANGED = some key changes it
# (always together with KEY). dedup.text folds them into its own per-character categories.
KEY = 1
CHANGED = 2
# With more changed characters than this, one OpenCC call over the whole text is cheaper than
# one per run (a call costs ~2.5 µs of fixed overhead; OpenCC itself ~60 ns per character).
MAX_RUNS = 48

_lock = threading.Lock()
_converter: Any = None
_flags: np.ndarray | None = None
_key_chars: frozenset[str] = frozenset()


def converter() -> Any:
    """The OpenCC Traditional-to-Simplified converter, built once on first use."""
    if _converter is None:
        _load()
    return _converter


def flag_table() -> np.ndarray | None:
    """KEY/CHANGED bits per code point (uint8[0x110000]), or None when they would be stale."""
    if _converter is None:
        _load()
    return _flags


def _load() -> None:
    global _converter, _flags, _key_chars
    with _lock:
        if _converter is not None:
            return
        import opencc  # imported lazily: building the converter loads dictionaries

        conv = opencc.OpenCC(CONFIG)
        flags, keys = _tables(conv)
        _flags, _key_chars = flags, keys
        _converter = conv  # published last: readers see the tables once they see the converter


def _tables(conv: Any) -> tuple[np.ndarray | None, frozenset[str]]:
    """The per-code-point flags and the key-character set, or None if they would be stale."""
    try:
        from dedup import t2s_chars
    except ImportError:  # not generated yet (python -m dedup.t2s writes it)
        return None, frozenset()
    try:
        digest = dictionary_digest(Path(conv.config))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.info("t2s: cannot read the OpenCC dictionaries (%s): converting whole texts", exc)
        return None, frozenset()
    if digest != t2s_chars.DIGEST:
        logger.info(
            "t2s: OpenCC dictionaries differ from the stored character sets (%s != %s): "
            "converting whole texts; regenerate with `python -m dedup.t2s`",
            digest[:12],
            t2s_chars.DIGEST[:12],
        )
        return None, frozenset()
    flags = np.zeros(0x110000, dtype=np.uint8)
    flags[_codepoints(t2s_chars.KEY_CHARS)] = KEY
    flags[_codepoints(t2s_chars.CHANGED_CHARS)] |= CHANGED
    return flags, frozenset(t2s_chars.KEY_CHARS)


def _codepoints(chars: str) -> np.ndarray:
    return np.frombuffer(chars.encode("utf-32-le"), dtype="<u4")


def _dict_files(config_path: Path) -> list[Path]:
    """The dictionary files a configuration names, in order (nested groups included)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    files: list[Path] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(config_path.parent / str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return files


def dictionary_digest(config_path: Path) -> str:
    """SHA-256 over the OpenCC version, a configuration file and the dictionaries it names."""
    import opencc

    h = hashlib.sha256(str(opencc.__version__).encode())
    h.update(config_path.read_bytes())
    for path in _dict_files(config_path):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def to_simplified(text: str) -> str:
    """OpenCC t2s of `text`, calling OpenCC only on the runs it could change."""
    if not text:
        return ""
    conv = converter()
    flags = _flags
    if flags is None:
        return str(conv.convert(text))
    try:
        cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    except UnicodeEncodeError:  # lone surrogates: OpenCC raises the same error as before
        return str(conv.convert(text))
    changed = (flags[cps] & CHANGED).nonzero()[0]
    return convert_changed(text, changed.tolist()) if changed.size else text


# Converted runs by text: the same short runs ("什么", "覆盖") recur in every document.
_run_cache: dict[str, str] = {}
_RUN_CACHE_SIZE = 8192
_RUN_CACHE_CHARS = 32


def convert_changed(text: str, changed: list[int]) -> str:
    """OpenCC t2s of `text`, given the positions of its CHANGED characters (`flag_table`).

    More than MAX_RUNS positions may be cut short: the text then goes to OpenCC whole.
    """
    conv = converter()
    keys = _key_chars
    if len(changed) > MAX_RUNS or not keys:  # many runs: one call is cheaper
        return str(conv.convert(text))
    cache = _run_cache
    n = len(text)
    parts: list[str] = []
    done = 0  # text[:done] is in `parts`; text[done - 1] is not a key character (or done == 0)
    for pos in changed:
        if pos < done:
            continue  # inside the run just converted
        start = pos
        while start > done and text[start - 1] in keys:
            start -= 1
        end = pos + 1
        while end < n and text[end] in keys:
            end += 1
        run = text[start:end]
        converted = cache.get(run)
        if converted is None:
            converted = str(conv.convert(run))
            if len(run) <= _RUN_CACHE_CHARS:
                if len(cache) >= _RUN_CACHE_SIZE:
                    cache.clear()
                cache[run] = converted
        parts.append(text[done:start])
        parts.append(converted)
        done = end
    parts.append(text[done:])
    return "".join(parts)


def to_simplified_whole(text: str) -> str:
    """OpenCC t2s over the whole text in one call (the reference for `to_simplified`)."""
    if not text:
        return ""
    return str(converter().convert(text))


def _dump(tool: Path, dictionary: Path, out: Path) -> list[tuple[str, list[str]]]:
    """Entries (key, values) of one ocd2 dictionary, through OpenCC's own `opencc_dict`."""
    subprocess.run(
        [str(tool), "-i", str(dictionary), "-o", str(out), "-f", "ocd2", "-t", "text"],
        check=True,
        capture_output=True,
    )
    entries = []
    for line in out.read_text(encoding="utf-8").splitlines():
        key, _, values = line.partition("\t")
        entries.append((key, values.split(" ")))
    return entries


def opencc_dict_tool() -> Path | None:
    """Path of the `opencc_dict` tool bundled with the opencc wheel, if present."""
    import opencc

    tool = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"
    return tool if tool.is_file() else None


def dictionary_entries() -> list[tuple[str, list[str]]]:
    """Every (key, values) entry of every dictionary the t2s configuration uses."""
    tool = opencc_dict_tool()
    if tool is None:
        raise FileNotFoundError("opencc_dict is not bundled with this opencc installation")
    entries: list[tuple[str, list[str]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(_dict_files(Path(converter().config))):
            entries += _dump(tool, path, Path(tmp) / f"{i}.txt")
    return entries


def generate_chars() -> tuple[str, str]:
    """(key characters, changed characters) of the installed t2s dictionaries, sorted."""
    keys: set[str] = set()
    changed: set[str] = set()
    for key, values in dictionary_entries():
        keys.update(key)
        for value in values:  # every alternative, not only the first OpenCC uses: a superset
            if value == key:
                continue
            if len(value) == len(key):
                changed.update(k for k, v in zip(key, value, strict=True) if k != v)
            else:
                changed.update(key)
    return "".join(sorted(keys)), "".join(sorted(changed))


def _render(digest: str, keys: str, changed: str) -> str:
    def literal(chars: str) -> str:
        lines = [chars[i : i + 40] for i in range(0, len(chars), 40)]
        return "(\n" + "".join(f'    "{line}"\n' for line in lines) + ")"

    return (
        '"""Character sets of the OpenCC t2s dictionaries, generated by `python -m dedup.t2s`.\n\n'
        "KEY_CHARS: every character of every dictionary key. CHANGED_CHARS: the characters some\n"
        "key changes (at a position where key and a value differ, or the whole key when their\n"
        "lengths differ). DIGEST: `dedup.t2s.dictionary_digest` of the dictionaries they came from.\n"
        '"""\n\n'
        "# fmt: off\n"
        f'DIGEST = "{digest}"\n'
        f"KEY_CHARS = {literal(keys)}\n"
        f"CHANGED_CHARS = {literal(changed)}\n"
    )


def main() -> int:
    """Regenerate dedup/t2s_chars.py from the installed OpenCC dictionaries."""
    keys, changed = generate_chars()
    if any(ord(c) < 0x80 or c in '"\\' for c in keys):
        print("unexpected ASCII key characters", file=sys.stderr)
        return 1
    digest = dictionary_digest(Path(converter().config))
    out = Path(__file__).with_name("t2s_chars.py")
    out.write_text(_render(digest, keys, changed), encoding="utf-8")
    print(f"wrote {out}: {len(keys)} key characters, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
