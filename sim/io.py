"""Files and folders written whole, checked when read, and text cells made safe to open.

- :func:`atomic_write` writes one file through a temporary file and a rename.
- :func:`write_folder` writes a folder of files as a unit: every file goes into a hidden
  sibling folder, with ``checksums.sha256`` (the SHA-256 of each file, in the format
  ``sha256sum -c`` reads) written last; the sibling then takes the folder's place by an atomic
  exchange of the two names. Killed at any moment, the folder holds either the old set of files
  or the new one, never a mix; a write that fails (a full disk) leaves the old folder as it was.
- :func:`check_folder` is what every reader calls first: it refuses a folder whose files do
  not match their checksums, or a leftover temporary folder.
- :func:`defuse` escapes text cells that a spreadsheet would run as a formula (OWASP CSV
  injection) and strips the control characters an xlsx file cannot hold.

See docs/guarantees.md ("Outputs and runs").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd

from sim.errors import OutputError, ResultsError

__all__ = [
    "CHECKSUMS",
    "Closing",
    "atomic_write",
    "check_folder",
    "csv_writer",
    "defuse",
    "defuse_text",
    "refuse_leftover",
    "safe_name",
    "text_writer",
    "write_folder",
    "write_json",
]


class Closing:
    """Mixin: a context manager that calls :meth:`close` on the way out of its block."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release what the object holds (idempotent); the default holds nothing."""


Writer = Callable[[Path], None]
"""Writes one file at the path it is given."""

CHECKSUMS = "checksums.sha256"
"""The file of a folder written by :func:`write_folder` that lists every other file's SHA-256."""

_TEMP = re.compile(r"^\.(?P<name>.+)\.revloop-(?P<kind>new|old)-[A-Za-z0-9_]+$")


# ----------------------------------------------------------------------------- one file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Writer) -> Path:
    """Write through a temporary file in the same folder, then rename over ``path``.

    Raises
    ------
    OutputError
        If the file cannot be written (a full disk, say): the message names ``path``; the
        temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({_reason(err)})") from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({_reason(err)}); it was left as it was") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (anything not JSON-native as its text)."""
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _reason(err: OSError) -> str:
    if err.errno is not None and err.strerror:
        return err.strerror.lower()
    return str(err) or type(err).__name__


# ----------------------------------------------------------------------------- folders


def write_folder(
    folder: str | os.PathLike[str],
    files: Mapping[str, Writer],
    keep: Collection[str] = (),
) -> list[Path]:
    """Write ``files`` into ``folder`` as a unit, replacing what an earlier write left there.

    Parameters
    ----------
    folder
        The folder; created if missing. If it exists it must be empty, a folder this function
        wrote, or hold one of ``files`` or ``keep``: anything else is refused rather than
        replaced.
    files
        File name -> writer. Each writer is called with the path to write.
    keep
        Names of companions that belong in the folder without being part of the unit (a
        resumable store, say); with every other entry not written by an earlier call, they
        are carried over into the new folder (hard-linked, so the swap never copies them).

    Returns
    -------
    list[pathlib.Path]
        The files written, in the order of ``files``, then ``checksums.sha256``.

    Raises
    ------
    OutputError
        If a file cannot be written (the message names it) or ``folder`` holds files that
        are not revloop's. The old folder is then left as it was.
    """
    target = Path(folder)
    if target.is_symlink():  # swap the folder the link points to, not the link
        target = target.resolve()
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{parent}: cannot create the folder ({_reason(err)})") from None
    _clean_leftovers(target)
    old = _owned(target)
    if old is None and target.exists():
        raise OutputError(f"{target}: not a folder")
    carried = _carried(target, old or set(), set(files), set(keep))
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.revloop-new-"))
    try:
        sums: dict[str, str] = {}
        for name, write in files.items():
            path = staging / name
            try:
                write(path)
            except OSError as err:
                raise OutputError(
                    f"{target / name}: cannot write ({_reason(err)}); "
                    f"nothing in {target} was changed"
                ) from None
            sums[name] = _sha256(path)
        for name in carried:
            _link(target / name, staging / name)
        lines = "".join(f"{digest}  {name}\n" for name, digest in sums.items())
        try:
            (staging / CHECKSUMS).write_text(lines, encoding="utf-8")
        except OSError as err:
            raise OutputError(
                f"{target / CHECKSUMS}: cannot write ({_reason(err)}); "
                f"nothing in {target} was changed"
            ) from None
        os.chmod(staging, 0o777 & ~_umask())
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)  # now the old folder, if there was one
    return [target / name for name in files] + [target / CHECKSUMS]


def check_folder(folder: str | os.PathLike[str], needed: Collection[str] = ()) -> dict[str, str]:
    """Check that ``folder`` was written whole by :func:`write_folder`.

    Parameters
    ----------
    folder
        The folder to read.
    needed
        Files the reader needs: each must be listed in ``checksums.sha256``.

    Returns
    -------
    dict[str, str]
        File name -> SHA-256 of every file of the unit, each checked against its file.

    Raises
    ------
    ResultsError
        If the folder is a leftover temporary folder, has no ``checksums.sha256``, or one of
        its files is missing, not listed or differs from its checksum (a write that was
        interrupted, or a file edited since).
    """
    path = Path(folder)
    refuse_leftover(path)
    sums = _read_checksums(path)
    if sums is None:
        raise ResultsError(
            f"{path}: no {CHECKSUMS}, so its files cannot be checked against each other "
            "(written by an older revloop, or not by revloop); write it again"
        )
    unlisted = [name for name in needed if name not in sums]
    if unlisted:
        raise ResultsError(f"{path}: {', '.join(unlisted)} not part of this results folder")
    for name, digest in sums.items():
        file = path / name
        if not file.is_file():
            raise ResultsError(f"{path}: {name} is missing; the folder is not whole")
        if _sha256(file) != digest:
            raise ResultsError(
                f"{path}: {name} does not match {CHECKSUMS} (changed after the save, or "
                "written by another run): the folder is inconsistent; write it again"
            )
    return sums


def refuse_leftover(folder: Path) -> None:
    """Raise :class:`~sim.errors.ResultsError` if ``folder`` is a temporary folder of
    :func:`write_folder` (left by a save that was killed): never read it as results."""
    if _TEMP.match(folder.resolve().name):
        raise ResultsError(
            f"{folder}: a temporary folder left by an interrupted save, not results; "
            "the next save to the same folder removes it"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checksums(folder: Path) -> dict[str, str] | None:
    try:
        text = (folder / CHECKSUMS).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise ResultsError(f"{folder / CHECKSUMS}: cannot read ({_reason(err)})") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name or "/" in name or name.startswith("."):
            raise ResultsError(f"{folder / CHECKSUMS}:{number}: not a checksum line")
        sums[name] = digest
    return sums


def _owned(target: Path) -> set[str] | None:
    """Names a previous :func:`write_folder` wrote in ``target`` (empty if none or missing)."""
    if not target.exists():
        return set()
    if not target.is_dir():
        return None
    try:
        sums = _read_checksums(target)
    except ResultsError:
        sums = {}
    return set() if sums is None else {*sums, CHECKSUMS}


def _carried(target: Path, owned: set[str], files: set[str], keep: set[str]) -> list[str]:
    """Entries of ``target`` to carry into the new folder; refuses a folder not revloop's."""
    if not target.is_dir():
        return []
    entries = sorted(p.name for p in target.iterdir())
    if entries and not owned and not (set(entries) & (files | keep)):
        raise OutputError(
            f"{target}: not empty and not a revloop output folder; nothing was written "
            "(choose a new or empty folder)"
        )
    return [
        name
        for name in entries
        if name not in owned and name not in files and name != CHECKSUMS and not _is_temp(name)
    ]


def _is_temp(name: str) -> bool:
    """A temporary file of :func:`atomic_write` or folder of :func:`write_folder`."""
    return (name.startswith(".") and name.endswith(".tmp")) or _TEMP.match(name) is not None


def _link(source: Path, destination: Path) -> None:
    """Hard-link (copy where links are not supported) ``source`` to ``destination``."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, destination, symlinks=True, copy_function=link)
    elif source.is_symlink():
        os.symlink(os.readlink(source), destination)
    else:
        link(str(source), str(destination))


def _clean_leftovers(target: Path) -> None:
    """Remove the temporary folders an interrupted :func:`write_folder` left beside ``target``.

    A ``-new-`` folder is a write that never took the folder's place; an ``-old-`` folder is
    an earlier folder that was being replaced: if ``target`` is missing (killed between the
    two renames of the fallback swap) it is put back first.
    """
    parent = target.parent
    for entry in sorted(parent.glob(f".{glob_escape(target.name)}.revloop-*")):
        match = _TEMP.match(entry.name)
        if match is None or match["name"] != target.name or not entry.is_dir():
            continue
        if match["kind"] == "old" and not target.exists():
            os.replace(entry, target)
            continue
        shutil.rmtree(entry, ignore_errors=True)


def glob_escape(text: str) -> str:
    """``text`` with the characters :meth:`pathlib.Path.glob` treats as patterns escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


_RENAME_EXCHANGE = 2
_libc: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically (Linux ``renameat2``); False if unsupported."""
    global _libc
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return False
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` in place of ``target``; afterwards ``staging`` holds the old folder."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    # Two renames: between them the old folder waits under an -old- name that the next
    # write_folder puts back (see _clean_leftovers).
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.revloop-old-"))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(staging, target)
    os.rename(old, staging)


# ----------------------------------------------------------------------------- safe text

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def defuse_text(value: str) -> str:
    """``value`` safe in a spreadsheet cell: control characters replaced, formulas escaped.

    A text that a spreadsheet would run as a formula (it begins with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return) gets a leading single quote, the OWASP advice against
    CSV injection; control characters an xlsx file cannot hold become a space.
    """
    text = _ILLEGAL_XLSX.sub(" ", value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _defuse_cell(value: Any) -> Any:
    return defuse_text(value) if isinstance(value, str) else value


def _defuse_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([list(_defuse_index(level)) for level in index.levels])
    if index.dtype == object or pd.api.types.is_string_dtype(index.dtype):
        return index.map(_defuse_cell).rename(index.name)
    return index


def defuse(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells, labels and headers are safe in a spreadsheet.

    Only text is touched (see :func:`defuse_text`); numbers, negative ones included, stay
    numbers. Every CSV and xlsx writer of revloop writes tables through this.
    """
    out = table.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.map(_defuse_cell)
    out.columns = _defuse_index(out.columns)
    out.index = _defuse_index(out.index)
    return out


def csv_writer(table: pd.DataFrame, index: bool = True) -> Writer:
    """Writer of ``table`` as CSV (with its index unless ``index=False``), text defused."""

    def write(path: Path) -> None:
        defuse(table).to_csv(path, index=index)

    return write


def text_writer(text: str) -> Writer:
    """Writer of ``text`` as UTF-8."""

    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def safe_name(text: str) -> str:
    """``text`` as one harmless path component (for default output folders named by a scenario).

    Separators, ``..``, leading dots and anything but letters, digits, ``-``, ``_`` and ``.``
    become ``_``, so the result can never climb out of, or point past, the folder it goes in.
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name[:100] or "scenario"


COMPARISON = "comparison.json"
"""The file that marks a folder written by ``revloop compare --out``: it lists the results
folder of each scenario inside it, baseline first."""


def comparison_members(folder: str | os.PathLike[str]) -> list[Path] | None:
    """The results folders of a ``revloop compare --out`` folder, baseline first (``None``
    for any other folder), so that report, export and chart read it like the folders
    ``revloop run`` writes.

    Raises
    ------
    ResultsError
        If the folder's files are not whole (:func:`check_folder`) or its list is unreadable.
    """
    path = Path(folder)
    if not (path / COMPARISON).is_file():
        return None
    check_folder(path, (COMPARISON,))
    try:
        listed = json.loads((path / COMPARISON).read_text(encoding="utf-8"))["scenarios"]
        return [path / str(entry["folder"]) for entry in listed]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ResultsError(f"{path / COMPARISON}: unreadable ({err})") from None
