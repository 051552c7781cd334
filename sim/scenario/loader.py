"""Load layered YAML scenario files and report every problem by file and line.

A scenario file may begin with ``extends: other.yaml`` (relative to its own directory): the
other file is loaded first and this one is deep-merged over it. Every file read is bounded
(regular files of at most :data:`MAX_FILE_BYTES`; an ``extends`` target must also end in
``.yaml`` or ``.yml``, and chains stop at :data:`MAX_EXTENDS_DEPTH`), and every YAML text,
files and ``--set`` values alike, is parsed by :func:`parse_yaml`, which bounds nesting and the
size aliases expand to (see ``docs/guarantees.md``). ``--set dotted.path=value``
overrides are applied next, and the result is validated against a pydantic model. Alongside
the plain data travels a *source map* from each key path to the file and line that set it, so
a validation error can point at the line to fix. Nothing here knows the scenario schema.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from sim.errors import Problem, ScenarioError

__all__ = [
    "MAX_EXTENDS_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_NODES",
    "SET_FILE",
    "YAML_SUFFIXES",
    "SourceMap",
    "apply_overrides",
    "load",
    "parse_yaml",
    "read_layered",
    "validate",
]

KeyPath: TypeAlias = tuple[str | int, ...]
SourceMap: TypeAlias = dict[KeyPath, tuple[str, int]]
"""Key path (``()`` is the document itself) -> (file as the user named it, 1-based line)."""

M = TypeVar("M", bound=BaseModel)

SET_FILE = "--set"
TAG = "dist"
"""Key that makes a mapping a tagged object (a distribution), replaced whole by overrides."""
"""The pseudo file name of command-line overrides; their "line" is their position."""

_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_FILE_BYTES = 1_000_000
"""Largest YAML file read (a scenario is a few kilobytes): bigger ones are refused unread."""
MAX_EXTENDS_DEPTH = 20
"""Most files in one ``extends`` chain, the first file included."""
MAX_NESTING = 50
"""Deepest nesting of mappings and lists in one YAML document."""
MAX_NODES = 100_000
"""Most values a YAML document may hold once its aliases are expanded (alias bombs)."""
YAML_SUFFIXES = (".yaml", ".yml")
"""The only names an ``extends`` target may have."""


def load(model: type[M], path: str | os.PathLike[str], sets: Sequence[str] = ()) -> M:
    """Read a layered scenario file, apply overrides and validate it.

    Parameters
    ----------
    model
        The pydantic model to validate against.
    path
        The scenario file.
    sets
        ``dotted.path=value`` overrides, applied in order.

    Returns
    -------
    M
        The validated model.

    Raises
    ------
    ScenarioError
        With every problem found in the first step that failed.
    """
    data, sources = read_layered(path)
    data, sources = apply_overrides(data, sources, sets)
    return validate(model, data, sources)


def read_layered(path: str | os.PathLike[str]) -> tuple[dict[str, Any], SourceMap]:
    """Read a YAML mapping, following ``extends:`` chains and deep-merging each layer.

    Dicts merge key by key; any other value (list, scalar, ``null``) in the extending file
    replaces the extended one wholesale. The ``extends`` key is dropped from the result.

    Parameters
    ----------
    path
        The scenario file.

    Returns
    -------
    tuple[dict[str, Any], SourceMap]
        The merged data (as ``yaml.safe_load`` would build it) and where each key came from.

    Raises
    ------
    ScenarioError
        If a file is missing, unreadable, malformed, empty or not a mapping, has duplicate
        keys or a non-string ``extends``, or the ``extends`` chain is circular.
    """
    file = os.fspath(path)
    return _read(file, ((os.path.realpath(file), _display(file)),), via=None)


def apply_overrides(
    data: dict[str, Any], sources: SourceMap, sets: Sequence[str]
) -> tuple[dict[str, Any], SourceMap]:
    """Apply ``dotted.path=value`` overrides to a copy of the data.

    The value is parsed as YAML (``12``, ``0.5``, ``[1, 2]``, ``{dist: fixed, value: 3}``).
    Integer components index lists; missing mapping keys are created, leaving it to the
    schema to accept them or not.

    Parameters
    ----------
    data
        Scenario data, not modified.
    sources
        Its source map, not modified.
    sets
        The overrides; the n-th (1-based) is recorded as source ``("--set", n)``.

    Returns
    -------
    tuple[dict[str, Any], SourceMap]
        The overridden data and source map.

    Raises
    ------
    ScenarioError
        With one problem per malformed or inapplicable override.
    """
    data = _unshared_copy(data)
    sources = dict(sources)
    problems: list[Problem] = []
    for position, item in enumerate(sets, start=1):
        try:
            _apply_override(data, sources, item, position)
        except ValueError as err:
            key = item.partition("=")[0].strip()
            problems.append(Problem(str(err), key, SET_FILE, position, item))
    if problems:
        raise ScenarioError(problems)
    return data, sources


def validate(model: type[M], data: dict[str, Any], sources: SourceMap) -> M:
    """Validate data against a pydantic model, locating each error via the source map.

    Parameters
    ----------
    model
        The pydantic model.
    data
        The data to validate.
    sources
        Where each key path of ``data`` came from.

    Returns
    -------
    M
        The validated model.

    Raises
    ------
    ScenarioError
        With one problem per pydantic error, sorted by file and line.
    """
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = [_to_problem(error, model, data, sources) for error in err.errors()]
    # Raised outside the except block so the pydantic traceback is not chained on.
    raise ScenarioError(sorted(problems, key=lambda p: (p.file or "", p.line or 0)))


# --- reading files ------------------------------------------------------------------------


def _read(
    file: str, chain: tuple[tuple[str, str], ...], via: tuple[str, int] | None
) -> tuple[dict[str, Any], SourceMap]:
    """Read ``file`` and the files it extends; ``chain`` holds (real path, name) so far."""
    name = chain[-1][1]
    data, sources = _parse(file, name, via)
    if "extends" not in data:
        return data, sources
    target = data.pop("extends")
    line = sources[("extends",)][1]
    sources = {key: source for key, source in sources.items() if key[:1] != ("extends",)}
    if not isinstance(target, str):
        raise ScenarioError([Problem("must be a file path", "extends", name, line, target)])
    parent = os.path.normpath(os.path.join(os.path.dirname(file), target))
    if not parent.lower().endswith(YAML_SUFFIXES):
        message = f"must name a YAML file ({' or '.join(YAML_SUFFIXES)})"
        raise ScenarioError([Problem(message, "extends", name, line, target)])
    if len(chain) >= MAX_EXTENDS_DEPTH:
        message = f"extends chain too long: at most {MAX_EXTENDS_DEPTH} files"
        raise ScenarioError([Problem(message, "extends", name, line, target)])
    link = (os.path.realpath(parent), _display(parent))
    if link[0] in (real for real, _ in chain):
        cycle = " -> ".join(shown for _, shown in (*chain, link))
        raise ScenarioError([Problem(f"circular extends: {cycle}", "extends", name, line)])
    base, merged_sources = _read(parent, (*chain, link), via=(name, line))
    merged_sources[()] = sources[()]
    return _merge(base, data, (), merged_sources, sources), merged_sources


def _display(file: str) -> str:
    """The file name as the user would recognise it: relative to cwd unless that is longer."""
    absolute = os.path.abspath(file)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return absolute
    return relative if len(relative) <= len(absolute) else absolute


def _read_text(file: str, name: str, via: tuple[str, int] | None) -> str:
    """The text of a regular file of at most :data:`MAX_FILE_BYTES` (devices, pipes refused)."""
    try:
        # stat before open: opening a FIFO would block, reading /dev/zero would never end
        if not stat.S_ISREG(os.stat(file).st_mode):
            reason = "not a regular file"
        elif os.stat(file).st_size > MAX_FILE_BYTES:
            reason = f"file is larger than {MAX_FILE_BYTES:,} bytes"
        else:
            with open(file, encoding="utf-8") as stream:
                text = stream.read(MAX_FILE_BYTES + 1)
            if len(text) <= MAX_FILE_BYTES:
                return text
            reason = f"file is larger than {MAX_FILE_BYTES:,} bytes"
    except FileNotFoundError:
        reason = "file not found"
    except OSError as err:
        reason = f"cannot read file: {err.strerror}"
    except UnicodeDecodeError:
        reason = "file is not UTF-8 text"
    if via is None:
        raise ScenarioError([Problem(reason, file=name)])
    raise ScenarioError([Problem(f"cannot load {name}: {reason}", "extends", *via)])


def _parse(file: str, name: str, via: tuple[str, int] | None) -> tuple[dict[str, Any], SourceMap]:
    """Read one YAML file (no ``extends`` processing) with the line of every key and item.

    A file reached through ``extends`` reports only its first problem, by line, without its
    key or value: whatever it holds (it may not be a scenario at all) is not echoed back.
    """
    text = _read_text(file, name, via)
    try:
        return _parse_text(text, name)
    except ScenarioError as err:
        if via is None:
            raise
        first = err.problems[0]
        raise ScenarioError([Problem(first.message, file=first.file, line=first.line)]) from None


def _parse_text(text: str, name: str) -> tuple[dict[str, Any], SourceMap]:
    loader, node = _compose(text, name)
    try:
        if node is None:
            raise ScenarioError([Problem("file is empty; expected a mapping", file=name)])
        data = _construct(loader, node, name)
        if not isinstance(data, dict):
            line = node.start_mark.line + 1
            raise ScenarioError([Problem("top level must be a mapping", "", name, line, data)])
        sources: SourceMap = {(): (name, node.start_mark.line + 1)}
        _record_lines(loader, node, data, (), name, sources)
        return data, sources
    finally:
        loader.dispose()


def parse_yaml(text: str, name: str) -> Any:
    """Parse one YAML document safely, for any YAML revloop reads.

    Plain ``yaml.safe_load`` with bounds: nesting at most :data:`MAX_NESTING` deep, at most
    :data:`MAX_NODES` values once aliases are expanded (a few hundred bytes of nested aliases
    can otherwise expand to billions of values), no duplicate keys, no recursive aliases, and
    every failure (bad characters, malformed text) a located :class:`ScenarioError`.

    Parameters
    ----------
    text
        The YAML text.
    name
        What to call it in messages (a file name, ``--set``).

    Returns
    -------
    Any
        The data, as ``yaml.safe_load`` would build it (``None`` for an empty document).

    Raises
    ------
    ScenarioError
        With the problems found, each with ``name`` and the line.
    """
    loader, node = _compose(text, name)
    try:
        return None if node is None else _construct(loader, node, name)
    finally:
        loader.dispose()


def _compose(text: str, name: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    """The node tree of ``text`` (aliases not expanded yet), checked for size and keys."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as err:  # a character YAML does not allow (NUL, BEL, ...)
        raise ScenarioError([_yaml_problem(err, text, name)]) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            problems = _key_problems(node, name, (), frozenset(), [MAX_NODES])
            if problems:
                raise ScenarioError(problems)
        return loader, node
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        loader.dispose()
        raise ScenarioError([_yaml_problem(err, text, name)]) from None
    except ScenarioError:
        loader.dispose()
        raise


def _construct(loader: yaml.SafeLoader, node: yaml.Node, name: str) -> Any:
    try:
        return loader.construct_document(node)
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # e.g. a date like 2024-13-01
        raise ScenarioError([_yaml_problem(err, "", name)]) from None


def _yaml_problem(err: BaseException, text: str, name: str) -> Problem:
    """A malformed-YAML problem with the line that failed (never a dump of the text)."""
    if isinstance(err, RecursionError):
        return Problem(f"malformed YAML: nested deeper than {MAX_NESTING} levels", file=name)
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        what = f"character #x{err.character:04x} is not allowed in YAML text"
        return Problem(f"malformed YAML: {what}", file=name, line=line)
    if isinstance(err, yaml.MarkedYAMLError):
        problem = f"{err.context}: {err.problem}" if err.context else str(err.problem)
        mark = err.problem_mark
        return Problem(
            f"malformed YAML: {problem}", file=name, line=mark.line + 1 if mark else None
        )
    return Problem(f"malformed YAML: {err}", file=name)


def _key_problems(
    node: yaml.Node,
    name: str,
    path: tuple[str, ...],
    ancestors: frozenset[int],
    budget: list[int],
) -> list[Problem]:
    """Duplicate keys (PyYAML silently keeps the last), self-containing aliases, and size.

    ``budget`` (one number, shared by the whole walk) counts down the values left before
    the document is too big: the walk follows aliases, so it measures the expanded size and
    stops as soon as the budget is spent, however large the expansion would be.
    """
    line = node.start_mark.line + 1
    if id(node) in ancestors:
        # The data would contain itself; walking it would never end.
        return [Problem("recursive YAML alias", ".".join(path), name, line)]
    budget[0] -= 1
    if budget[0] < 0:
        message = f"too large: more than {MAX_NODES:,} values once aliases are expanded"
        return [Problem(message, file=name, line=line)]
    if len(ancestors) >= MAX_NESTING:
        message = f"nested deeper than {MAX_NESTING} levels"
        return [Problem(message, ".".join(path[:3]) + "...", name, line)]
    ancestors = ancestors | {id(node)}
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            key_path = (*path, str(key_node.value))
            # Merge keys (<<) may legitimately repeat and be repeated by explicit keys.
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                key, key_line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
                if key in first_lines:
                    message = f"duplicate key (first defined on line {first_lines[key]})"
                    problems.append(Problem(message, ".".join(key_path), name, key_line))
                first_lines.setdefault(key, key_line)
            problems += _key_problems(value_node, name, key_path, ancestors, budget)
            if budget[0] < 0:
                return problems
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _key_problems(item, name, (*path, str(index)), ancestors, budget)
            if budget[0] < 0:
                return problems
    return problems


def _record_lines(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    value: Any,
    path: KeyPath,
    name: str,
    sources: SourceMap,
) -> None:
    """Walk the node tree alongside the data built from it, recording each key's line."""
    if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            sources[(*path, key)] = (name, key_node.start_mark.line + 1)
            _record_lines(loader, value_node, value[key], (*path, key), name, sources)
    elif isinstance(node, yaml.SequenceNode) and isinstance(value, list):
        for index, (item_node, item) in enumerate(zip(node.value, value, strict=True)):
            sources[(*path, index)] = (name, item_node.start_mark.line + 1)
            _record_lines(loader, item_node, item, (*path, index), name, sources)


def _merge(
    base: dict[str, Any],
    over: dict[str, Any],
    path: KeyPath,
    sources: SourceMap,
    over_sources: SourceMap,
) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base``, updating ``sources`` (base's) from ``over_sources``."""
    merged = dict(base)
    for key, value in over.items():
        sub = (*path, key)
        # A tagged object ({dist: ...}) is one value: it replaces, never merges field by field.
        tagged = isinstance(value, dict) and TAG in value
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not tagged:
            merged[key] = _merge(merged[key], value, sub, sources, over_sources)
            sources[sub] = over_sources[sub]
        else:
            merged[key] = value
            _drop_subtree(sources, sub)
            sources.update(
                (key_path, s) for key_path, s in over_sources.items() if _under(key_path, sub)
            )
    return merged


def _under(path: KeyPath, prefix: KeyPath) -> bool:
    return path[: len(prefix)] == prefix


def _drop_subtree(sources: SourceMap, prefix: KeyPath) -> None:
    for path in [path for path in sources if _under(path, prefix)]:
        del sources[path]


# --- overrides ----------------------------------------------------------------------------


def _unshared_copy(value: Any) -> Any:
    """Deep copy that also un-shares YAML aliases.

    ``copy.deepcopy`` would keep an aliased subtree shared, so overriding it at one path
    would silently change it at the other.
    """
    if isinstance(value, dict):
        return {key: _unshared_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared_copy(item) for item in value]
    return copy.deepcopy(value)


def _apply_override(data: dict[str, Any], sources: SourceMap, item: str, position: int) -> None:
    """Apply one ``dotted.path=value`` in place; raise ``ValueError`` with a user message."""
    key, equals, text = item.partition("=")
    parts = key.strip().split(".")
    if not equals or "" in parts:
        raise ValueError("expected dotted.path=value, e.g. team.headcount=12")
    if len(parts) > MAX_NESTING:
        raise ValueError(f"path nested deeper than {MAX_NESTING} levels")
    try:
        value = parse_yaml(text, SET_FILE)
    except ScenarioError as err:
        message = err.problems[0].message.removeprefix("malformed YAML: ")
        raise ValueError(f"malformed value: {message}") from None
    container: Any = data
    path: KeyPath = ()
    for part in parts[:-1]:
        step = _step(container, part, path)
        path = (*path, step)
        if isinstance(container, dict) and step not in container:
            container[step] = {}
        # The override now shapes this mapping too, as a child file's keys do in _merge, so a
        # whole-mapping check it breaks (shares summing to 1) is reported against it.
        sources[path] = (SET_FILE, position)
        container = container[step]
    step = _step(container, parts[-1], path)
    container[step] = value
    path = (*path, step)
    _drop_subtree(sources, path)
    sources[path] = (SET_FILE, position)


def _step(container: Any, part: str, path: KeyPath) -> str | int:
    """The key or index ``part`` denotes in ``container`` (found at ``path``)."""
    if isinstance(container, dict):
        return part
    where = _dotted(path)  # never empty: the top level is a dict
    if isinstance(container, list):
        if not part.isdecimal():
            raise ValueError(f"{where} is a list, so {part!r} must be an item index")
        if int(part) >= len(container):
            raise ValueError(f"index {part} is out of range: {where} has {len(container)} items")
        return int(part)
    raise ValueError(f"cannot set {part!r} inside {where}: it is a single value, not a mapping")


# --- validation errors --------------------------------------------------------------------


def _to_problem(
    error: ErrorDetails, model: type[BaseModel], data: dict[str, Any], sources: SourceMap
) -> Problem:
    missing = error["type"] == "missing"
    path = _data_path(error["loc"], data, keep_last=missing)
    message = _message(error, model, data, path)
    value = error["input"]
    located = _LOCATED.match(message) if error["type"] == "value_error" else None
    if located:
        # A cross-field check named the field it is about: "segments.smb.share: ..."
        node = _node_at(data, path)
        for raw in located.group(1).split("."):
            part: str | int = int(raw) if raw.isdigit() else raw
            if isinstance(node, dict | list) and _has(node, part):
                node = node[part]  # type: ignore[index]
                path = (*path, part)
            else:
                break
        message, value = located.group(2), node
    file, line = _source_of(path, sources)
    if missing:
        return Problem(message, _dotted(path), file, line)
    return Problem(message, _dotted(path), file, line, value)


_LOCATED = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)*): (.+)$", re.DOTALL)


def _has(node: dict[Any, Any] | list[Any], part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _node_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _data_path(loc: tuple[str | int, ...], data: Any, keep_last: bool) -> KeyPath:
    """The part of a pydantic ``loc`` that is real keys/indices of ``data``.

    Pydantic puts union tags (discriminator values, member names) into ``loc``; they are
    not keys of the input, so they are skipped. A missing key is kept when it comes last.
    """
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif keep_last and index == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _source_of(path: KeyPath, sources: SourceMap) -> tuple[str | None, int | None]:
    """Where the longest prefix of ``path`` that has a known source came from."""
    for length in range(len(path), -1, -1):
        if path[:length] in sources:
            return sources[path[:length]]
    return None, None


def _message(
    error: ErrorDetails, model: type[BaseModel], data: dict[str, Any], path: KeyPath
) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, data, path[:-1])
        return f"unknown field (allowed: {', '.join(allowed)})" if allowed else "unknown field"
    return error["msg"].removeprefix("Value error, ")


def _allowed_fields(model: type[BaseModel], data: Any, path: KeyPath) -> list[str]:
    """Field names of the model expected at ``path``, or ``[]`` if that is not clear-cut."""
    types: list[Any] = [model]
    node = data
    for part in path:
        types = [child for t in _candidates(types, node) for child in _child_types(t, part)]
        node = node[part]
    models = list(dict.fromkeys(t for t in _candidates(types, node) if _is_model(t)))
    return list(_fields(models[0])) if len(models) == 1 else []


def _candidates(types: list[Any], node: Any) -> list[Any]:
    """The union members of ``types``, without models whose ``Literal`` tags ``node`` fails."""
    return [t for a in types for t in _alternatives(a) if not _is_model(t) or _tags_match(t, node)]


def _alternatives(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _alternatives(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return [t for arg in get_args(annotation) for t in _alternatives(arg)]
    return [annotation]


def _child_types(annotation: Any, part: str | int) -> list[Any]:
    """The annotation of item or field ``part`` of a value annotated ``annotation``."""
    if _is_model(annotation):
        field = _fields(annotation).get(part) if isinstance(part, str) else None
        return [] if field is None else [field.annotation]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, Sequence) and isinstance(part, int) and args:
        return [args[0]]
    if origin in (dict, Mapping) and len(args) == 2:
        return [args[1]]
    return []


def _tags_match(model: type[BaseModel], node: Any) -> bool:
    if not isinstance(node, dict):
        return True
    return all(
        node[key] in get_args(field.annotation)
        for key, field in _fields(model).items()
        if get_origin(field.annotation) is Literal and key in node
    )


def _is_model(annotation: Any) -> bool:
    # Generic aliases such as list[int] pass isinstance(..., type), hence the origin check.
    return (
        get_origin(annotation) is None
        and isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
    )


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The model's fields by the key they take in input data."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)
