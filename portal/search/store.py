"""The index directories, the writer (one at a time, waiting for the lock) and per-thread searchers.

Indexes live in ``INDEX_DIR/kb`` and ``INDEX_DIR/tickets``. Whoosh has one write lock per index: a writer waits for it
(retrying every 50 ms up to ``INDEX_WRITE_TIMEOUT`` seconds) instead of failing, so two processes writing at once both
land. Readers keep one searcher per thread and index and reopen it when the index has a newer generation.

Note: ``Searcher.refresh()`` of whoosh-reloaded 2.7.5 re-adds the old reader's segments to the new reader, which
duplicates documents after a merge; we compare generations and open a fresh searcher instead.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from whoosh import index as whoosh_index
from whoosh.fields import Schema
from whoosh.index import FileIndex
from whoosh.searching import Searcher
from whoosh.writing import IndexWriter

from portal.search.schema import SCHEMAS, weighting

_create_lock = threading.Lock()
MERGE_AT_SEGMENTS = 8


def index_root() -> Path:
    configured = current_app.config.get("INDEX_DIR")
    if not configured:  # tests: one temporary directory per session, removed at exit
        with _create_lock:
            configured = current_app.config.get("INDEX_DIR")
            if not configured:
                configured = current_app.config["INDEX_DIR"] = (
                    _temporary_dir() if current_app.testing else str(Path(current_app.instance_path) / "index")
                )
    return Path(configured)


def _temporary_dir() -> str:
    path = tempfile.mkdtemp(prefix="portal-index-")
    atexit.register(shutil.rmtree, path, True)
    return path


def index_path(name: str) -> Path:
    return index_root() / name


def open_index(name: str) -> FileIndex:
    """Open index ``name``, creating it (empty) when it does not exist yet."""
    path = index_path(name)
    if whoosh_index.exists_in(str(path)):
        return whoosh_index.open_dir(str(path))
    with _create_lock:
        path.mkdir(parents=True, exist_ok=True)
        if whoosh_index.exists_in(str(path)):
            return whoosh_index.open_dir(str(path))
        return whoosh_index.create_in(str(path), SCHEMAS[name]())


def recreate_index(name: str) -> FileIndex:
    """Delete index ``name`` and create it empty with the current schema."""
    path = index_path(name)
    close_searchers()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return whoosh_index.create_in(str(path), SCHEMAS[name]())


def schema_is_current(ix: FileIndex, name: str) -> bool:
    """Whether index ``name`` was created with the schema of this release (else a rebuild starts a new one)."""
    return same_schema(ix.schema, SCHEMAS[name]())


def same_schema(stored: Schema, current: Schema) -> bool:
    return sorted(stored.names()) == sorted(current.names()) and all(
        _same_field(stored[field], current[field]) for field in current.names()
    )


def _same_field(stored, current) -> bool:
    """Same field type and settings (a NUMERIC float and a NUMERIC int differ, and so do a sortable default, a TEXT
    field without positions, or one that is no longer stored)."""
    if type(stored) is not type(current) or type(stored.format) is not type(current.format):
        return False
    keys = ("numtype", "bits", "signed", "default", "stored", "unique", "sortable_typecode", "scorable", "spelling")
    return all(_equal(getattr(stored, k, None), getattr(current, k, None)) for k in keys)


def _equal(a, b) -> bool:
    return a == b or (a != a and b != b)  # NaN defaults compare equal to each other


@contextmanager
def index_writer(name: str, ix: FileIndex | None = None, **options) -> Iterator[IndexWriter]:
    """A writer holding the index's write lock; waits for another process's writer instead of failing.
    Commits when the block ends, cancels (releasing the lock) on an exception."""
    ix = ix or open_index(name)
    timeout = float(current_app.config.get("INDEX_WRITE_TIMEOUT", 30))
    # Segments stay plain files (compound=False): a compound segment is read through a copy of each of its parts,
    # so every searcher opened after a commit copied the whole index into memory (hundreds of ms at 100k tickets).
    options.setdefault("compound", False)
    writer = ix.writer(timeout=timeout, delay=0.05, **options)
    # A one-document job adds a small segment; merging on every commit would rewrite the small segments each time.
    # Merge (Whoosh's MERGE_SMALL policy) once enough segments have piled up.
    writer.merge = len(writer.segments) >= MERGE_AT_SEGMENTS
    try:
        yield writer
    except BaseException:
        _stop_subwriters(writer)
        writer.cancel()
        raise
    else:
        writer.commit()


def _stop_subwriters(writer: IndexWriter) -> None:
    """A multi-process writer's (``procs`` > 1) indexing processes wait for more documents: a cancel does not reach
    them (it flags the parent's copies), so they are stopped here and the process can exit."""
    for task in getattr(writer, "tasks", ()):
        task.terminate()
        task.join()


# The index writer is another process (the one ``index`` worker): between reading the list of generations and
# opening one, it may commit a new generation and delete the files of the old one. A file vanishing under us means
# exactly that, so the open starts again from the new generation.
OPEN_ATTEMPTS = 5


def _open_searcher(name: str) -> tuple[FileIndex, Searcher]:
    for attempt in range(OPEN_ATTEMPTS):
        try:
            ix = open_index(name)
            return ix, ix.searcher(weighting=weighting(name))
        except FileNotFoundError:
            if attempt == OPEN_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class _SearcherPool:
    """Open searchers shared by the threads of this process: a thread borrows one for a search and gives it back.
    A searcher older than the index's latest generation (or than a ``recreate_index``) is closed and reopened."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: dict[tuple, list[tuple[FileIndex, Searcher, int]]] = {}
        self.epoch = 0

    @contextmanager
    def borrow(self, name: str) -> Iterator[Searcher]:
        key = (str(index_root().resolve()), name)
        with self.lock:
            entry = self.free.setdefault(key, []).pop() if self.free.get(key) else None
            epoch = self.epoch
        if entry is not None and not self._current(entry, epoch):
            entry[1].close()
            entry = None
        if entry is None:
            entry = (*_open_searcher(name), epoch)
        try:
            yield entry[1]
        finally:
            with self.lock:
                if entry[2] == self.epoch:
                    self.free.setdefault(key, []).append(entry)
                    entry = None
            if entry is not None:
                entry[1].close()

    @staticmethod
    def _current(entry: tuple[FileIndex, Searcher, int], epoch: int) -> bool:
        ix, current, opened_epoch = entry
        if opened_epoch != epoch:
            return False
        try:
            return ix.latest_generation() == current.reader().generation()
        except (OSError, whoosh_index.EmptyIndexError):
            return False

    def close_all(self) -> None:
        with self.lock:
            self.epoch += 1
            entries = [entry for entries in self.free.values() for entry in entries]
            self.free.clear()
        for _ix, current, _epoch in entries:
            current.close()


_pool = _SearcherPool()


def searcher(name: str):
    """Borrow this process's searcher for index ``name`` (a context manager), current as of now."""
    return _pool.borrow(name)


def close_searchers() -> None:
    """Close every idle searcher of this process; searchers in use are closed when given back."""
    _pool.close_all()
