"""Reading a file the user named (a model spec, an HF config.json, a hardware spec) without letting any content
crash the CLI.

:func:`read_data` reads a file; :func:`parse_text` parses text already in hand. Whatever the bytes, they return plain JSON-like data (dicts with string keys,
lists, str, int, float, bool, None) or raises one :class:`~mlacalc.errors.SpecError` naming the file:

- size: at most ``MAX_BYTES`` are read (spec and config files are a few KiB; ``/dev/zero`` is not read forever);
- text: a NUL byte or bytes that are not UTF-8 mean "not a text file" (an image, a checkpoint, a .pyc);
- YAML through ``yaml.safe_load`` only (no Python objects), JSON through ``json.loads``;
- nesting deeper than ``MAX_DEPTH`` is refused before the recursive parsers run: the depth is counted without
  recursion (YAML parser events; a bracket scan for JSON), and ``RecursionError`` is still caught behind it;
- a key given twice in one mapping (YAML and JSON keep the last silently; a spec that says ``num_layers`` twice is a
  mistake either way) is refused, naming the key and its line;
- size once parsed: more than ``MAX_NODES`` values is refused, each YAML alias counted as the values it copies (the
  "billion laughs" file that is small on disk and huge once expanded), and so is a recursive alias;
- values: NaN, infinity, numbers beyond ``MAX_NUMBER``, and YAML-only types (dates, binary, sets) are refused;
  non-string mapping keys (YAML ``1: x``) become strings, so that "unknown field" messages can name them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import SpecError


class MalformedText(SpecError):
    """Text that is not YAML (or JSON) at all; callers that take a bare word too (``--set name=a: b``) use it as is."""


class NonFinite(str):
    """A JSON ``NaN``/``Infinity``/``-Infinity`` kept as its word (``nonfinite_as_text``), told apart from a string
    that merely reads "NaN" so that :func:`refuse_nonfinite` can still refuse it where a number was meant. Its repr
    is the bare word, as the file wrote it: an error shows ``got NaN``, not ``got 'NaN'``, which reads as text."""

    def __repr__(self) -> str:
        return str.__str__(self)


def refuse_nonfinite(data: Any, where: str) -> None:
    """Refuse the first :class:`NonFinite` word in ``data`` (iterative walk), as a strict read would have."""
    todo = [data]
    while todo:
        v = todo.pop()
        if isinstance(v, NonFinite):
            raise SpecError(where, f"{v} is not a number a spec can hold")
        if isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)


MAX_BYTES = 4 * 2**20   # 4 MiB: the largest HF config.json we know is ~10 KiB
MAX_DEPTH = 64          # a spec nests 3 deep; an HF config ~4
MAX_NODES = 100_000     # values after expanding YAML aliases: a spec holds ~100, or 10,000 layer_types at most;
#                         PyYAML parses ~75,000 a second: a refusal takes under 2 s (at 1,000,000: 19 s, 650 MB)
_TOO_MANY = f"too many values (over {MAX_NODES:,}, each YAML alias counted as the values it copies)"
MAX_NUMBER = 2**63      # no field of a spec or hardware file needs more (bytes, tokens, FLOP/s are all smaller)


def read_data(source: Any, where: str, fmt: str = "yaml", *, nonfinite_as_text: bool = False) -> Any:
    """The parsed content of ``source`` (a ``pathlib.Path`` or an ``importlib.resources`` file: anything with
    ``open("rb")``), as ``fmt`` = ``"yaml"`` or ``"json"``. ``where`` names the file in errors.
    ``nonfinite_as_text``: JSON's ``NaN``/``Infinity`` become those words, as text (see :func:`parse_text`)."""
    try:
        with source.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise SpecError(where, f"cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise SpecError(where, f"file too large (over {MAX_BYTES // 2**20} MiB); is it a spec file?")
    if b"\0" in raw:
        raise SpecError(where, "not a text file (binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecError(where, f"not a text file (not UTF-8 at byte {e.start})") from None
    return parse_text(text, where, fmt, nonfinite_as_text=nonfinite_as_text)


def parse_text(text: str, where: str, fmt: str = "yaml", *, nonfinite_as_text: bool = False) -> Any:
    """``text`` parsed as ``fmt`` (``"yaml"`` or ``"json"``) with the checks of :func:`read_data`.

    ``nonfinite_as_text``: a JSON ``NaN``, ``Infinity`` or ``-Infinity`` is kept as that word (a string) rather
    than refused. HF configs write Mamba's ``time_step_limit`` as ``[0.0, Infinity]`` (transformers serialises
    ``float("inf")`` so): a key no size is read from, which refused the whole file; a size that is such a word is
    still refused, by the reader's own check that it is a whole number."""
    if "\0" in text:
        raise SpecError(where, "not a text file (binary data)")
    try:
        data = _parse_json(text, where, nonfinite_as_text) if fmt == "json" else _parse_yaml(text, where)
    except RecursionError:
        raise SpecError(where, f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    return _plain(data, where)


def _parse_json(text: str, where: str, nonfinite_as_text: bool = False) -> Any:
    depth = _json_depth(text)
    if depth > MAX_DEPTH:
        raise SpecError(where, f"nested too deeply ({depth} levels; at most {MAX_DEPTH})")

    def refuse(name: str):
        if nonfinite_as_text:
            return NonFinite(name)
        raise SpecError(where, f"{name} is not a number a spec can hold")

    def unique(pairs: list) -> dict:
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise SpecError(where, f"key {k!r} given twice in one object")
            seen.add(k)
        return dict(pairs)

    try:
        return json.loads(text, parse_constant=refuse, object_pairs_hook=unique)
    except SpecError:
        raise
    except json.JSONDecodeError as e:
        raise MalformedText(where, f"malformed JSON at line {e.lineno}: {e.msg}") from None
    except ValueError as e:  # an integer of more than 4,300 digits (int's own limit)
        raise SpecError(where, "a number too long to read: " + str(e).split(";")[0]) from None


def _json_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (a scan, no recursion; malformed text is json.loads's to report)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


# YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent: 4.8e3, 1e9 and 1.0e-3 stayed text, so that a
# hardware file's "mem_bandwidth_gb_s: 4.8e3" was refused as "expected a number, got '4.8e3'". YAML 1.2 (and JSON)
# read them as numbers; so does this reader, after yaml.safe_load, on plain (unquoted) scalars only.
_EXPONENT_FLOAT = r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"


def _plain_exponent_floats(events) -> set:
    """Start marks (line, column) of the plain scalars that spell a YAML 1.2 exponent float (:data:`_EXPONENT_FLOAT`)
    among a parse's ``events``: '4.8e3' quoted stays text."""
    import re

    import yaml

    pattern = re.compile(_EXPONENT_FLOAT)
    return {(e.start_mark.line, e.start_mark.column) for e in events
            if isinstance(e, yaml.ScalarEvent) and e.style is None and pattern.match(e.value)}


# Numbers only YAML 1.1 (PyYAML) reads so, each a silent other value where a person wrote a number: a leading zero is
# octal (num_layers: 040 was 32 layers; YAML 1.2 reads 40), digits joined by colons are base 60 (1:00 was 60), and 0b
# is binary. They are refused, naming the value; 0x (hex) reads the same in YAML 1.2 and stays.
# (PyYAML's resolver patterns for these forms: yaml/resolver.py, tag:yaml.org,2002:int and float)
_YAML11_ONLY = (r"^[-+]?(?:0[0-7_]+|0b[0-1_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+|"
                r"[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*)$")
_NUMBER_TAGS = (None, "!", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _refuse_yaml11_numbers(events, where: str) -> None:
    """Refuse a plain scalar (or one tagged ``!!int``/``!!float``) of a parse's ``events`` that only YAML 1.1 reads as a
    number (:data:`_YAML11_ONLY`); quoted, it is text as before."""
    import re

    import yaml

    pattern = re.compile(_YAML11_ONLY)
    for e in events:
        if isinstance(e, yaml.ScalarEvent) and e.style is None and e.tag in _NUMBER_TAGS and pattern.match(e.value):
            kind = "a base-60" if ":" in e.value else "a binary" if "b" in e.value else "an octal"
            raise SpecError(where, f"{e.value!r} (line {e.start_mark.line + 1}) is {kind} number in YAML 1.1; write "
                                   f"it in decimal digits without a leading zero, or quote it for text")


def _with_exponent_floats(text: str, marks: set):
    """``yaml.safe_load(text)`` with the plain scalars at ``marks`` read as floats (a SafeLoader subclass would do the
    same through yaml.load; specs load through safe_load only)."""
    import yaml

    if not marks:
        return yaml.safe_load(text)
    loader = yaml.SafeLoader(text)        # safe_load's own loader: compose, retag, construct
    try:
        node = loader.get_single_node()
        _retag_floats(node, marks)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _retag_floats(node, marks: set) -> None:
    """Tag the plain string scalars at ``marks`` (line, column) under ``node`` as floats; an alias's node once."""
    import yaml

    stack, seen = [node] if node is not None else [], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.ScalarNode):
            if (n.start_mark.line, n.start_mark.column) in marks and n.tag == "tag:yaml.org,2002:str":
                n.tag = "tag:yaml.org,2002:float"
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend(x for kv in n.value for x in kv)


def _parse_yaml(text: str, where: str) -> Any:
    import yaml

    try:
        events = _checked_yaml_events(yaml.parse(text, Loader=yaml.SafeLoader), where)
        _refuse_yaml11_numbers(events, where)
        return _with_exponent_floats(text, _plain_exponent_floats(events))
    except SpecError:
        raise
    except ValueError as e:  # an integer of more than 4,300 digits (int's own limit), a bad !!timestamp
        raise SpecError(where, "a value that cannot be read: " + str(e).split(";")[0]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
        raise MalformedText(where, f"malformed YAML{line}: {problem}") from None


def _checked_yaml_events(events, where: str) -> list:
    """The parser's ``events`` as a list, checked for depth, recursive aliases and expanded size as they stream in
    (iterative): the first event past a limit stops the parse. PyYAML's scanner takes time quadratic in the depth of
    flow brackets, so the whole list first meant 23 s for a 40 KB file of 20,000 ``[`` (a 4 MiB one: hours), and
    1.2 GB and 40 s for a flat list of 1.9 million numbers, before either was refused."""
    import yaml

    seen: list = []
    sizes: dict[str, int] = {}     # anchor -> values under it once expanded (closed anchors only)
    stack: list[list] = []         # open collections: [anchor, values so far, keys seen (mappings) or None, nodes]
    total = 0
    for ev in events:
        seen.append(ev)
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([ev.anchor, 0, set() if isinstance(ev, yaml.MappingStartEvent) else None, 0])
            if len(stack) > MAX_DEPTH:
                raise SpecError(where, f"nested too deeply (more than {MAX_DEPTH} levels)")
            continue
        if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, n, _, _ = stack.pop()
            n += 1
            if anchor is not None:
                sizes[anchor] = n
        elif isinstance(ev, yaml.ScalarEvent):
            n = 1
            if ev.anchor is not None:
                sizes[ev.anchor] = 1
            if stack and stack[-1][2] is not None and stack[-1][3] % 2 == 0:   # a mapping's key
                if ev.value in stack[-1][2]:
                    raise SpecError(where, f"key {ev.value!r} given twice in one mapping (line "
                                           f"{ev.start_mark.line + 1})")
                stack[-1][2].add(ev.value)
        elif isinstance(ev, yaml.AliasEvent):
            if ev.anchor not in sizes:  # still open (or unknown: safe_load reports that one)
                if any(entry[0] == ev.anchor for entry in stack):
                    raise SpecError(where, f"recursive YAML alias *{ev.anchor}")
                continue
            n = sizes[ev.anchor]
        else:
            continue
        if stack:
            stack[-1][1] += n
            stack[-1][3] += 1       # keys and values alternate in a mapping
        else:
            total += n
        if total + sum(entry[1] for entry in stack) > MAX_NODES:
            raise SpecError(where, _TOO_MANY)
    return seen


def _plain(data: Any, where: str) -> Any:
    """``data`` with string keys, checked for values JSON and the calculator cannot hold (iterative walk), and for
    more than ``MAX_NODES`` of them (a JSON file's: YAML's were counted as parsed; a 4 MiB JSON list of 2 million
    numbers took 3.6 s and 370 MB to be refused for an unknown key)."""
    root = [data]
    todo = [(root, 0, "")]
    walked = 0
    while todo:
        parent, key, path = todo.pop()
        walked += 1
        if walked > MAX_NODES:
            raise SpecError(where, _TOO_MANY)
        v = parent[key]
        at = f"{where}: {path}" if path else where
        if isinstance(v, dict):
            fixed = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    if isinstance(k, (dict, list, tuple)):
                        raise SpecError(at, "a mapping key must be a plain name")
                    k = str(k)
                fixed[k] = x
            parent[key] = fixed
            todo.extend((fixed, k, f"{path}.{k}" if path else k) for k in fixed)
        elif isinstance(v, list):
            todo.extend((v, i, f"{path}[{i}]") for i in range(len(v)))
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            pass
        elif isinstance(v, (int, float)):
            if isinstance(v, float) and not math.isfinite(v):
                raise SpecError(at, f"must be a finite number, got {v}")
            if abs(v) > MAX_NUMBER:
                raise SpecError(at, f"number too large ({v:.3g}; at most 2**63)")
        else:
            kind = type(v).__name__
            raise SpecError(at, f"unsupported YAML value of type {kind} (quote it to make it a string)")
    return root[0]


def check_output(path: str, flag: str, folder: bool = False) -> str:
    """Refuse, before any work, an output path that cannot be written: empty, a folder where a file goes (or a file
    where a folder goes), a missing parent folder, no write permission. The GPU commands write their results after
    minutes of measuring; an unwritable ``--out`` failed only then (or, for a folder, with a traceback).

    Returns the path to write: ``~`` expanded as it was for the checks (callers write there; a quoted ``~/out`` was
    checked as the home folder and then written, or created, as a folder named ``~`` in the working directory)."""
    import os
    from pathlib import Path

    if not isinstance(path, str) or not path.strip():
        raise SpecError(flag, "is empty; give a path to write")
    p = Path(path)
    try:
        p = p.expanduser()
    except RuntimeError:                   # ~nosuchuser/x: no home to expand; the path is taken as written
        pass
    if folder:
        if p.exists() and not p.is_dir():
            raise SpecError(flag, f"{path} is a file; give a folder (it is created if missing)")
        probe = p
        while not probe.exists():          # validate creates the missing folders
            if probe.parent == probe:
                break
            probe = probe.parent
        if not probe.is_dir():
            raise SpecError(flag, f"{path}: {probe} is not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise SpecError(flag, f"{path}: no permission to write in {probe}")
        return str(p)
    if p.is_dir():
        raise SpecError(flag, f"{path} is a folder; give a file name")
    parent = p.parent
    if not parent.is_dir():
        raise SpecError(flag, f"{path}: folder {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise SpecError(flag, f"{path}: no permission to write it")
    if not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(flag, f"{path}: no permission to write in {parent}")
    return str(p)
