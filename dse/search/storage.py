"""Where a study lives: a journal file (default), SQLite, any SQLAlchemy URL (PostgreSQL, MySQL).

- default: `<results-dir>/<study>/journal.log`, Optuna's journal format (JSON lines, which
  Optuna's JournalFileBackend and optuna-dashboard read) written by FlockJournalBackend below:
  a trial is one appended line, so 600 quickstart trials take ~2.5 s (~240 trials/s) against
  ~14 s on SQLite, whose ORM issues dozens of statements per trial
  (benchmarks/bench_study.py); any number of local workers share it;
- an existing `<results-dir>/<study>/study.db` (the default before the journal) is kept, so a
  study keeps the storage it was created in;
- `--storage URL`: `sqlite:///path` (WAL journal, synchronous=NORMAL: a killed process loses no
  committed trial), `postgresql://user@host:port/db`, `mysql+pymysql://...`;
- `--storage path.log`: a journal file.
Any failure to open or reach a storage is one UserError line (passwords masked).

Trials are claimed, then finished (dse/search/claims.py): one append each on the journal, a few
transactions on an RDB, where the per-parameter compatibility query Optuna runs on every insert is
skipped (the study's fingerprint already guarantees every trial has the same distributions).
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import re
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from optuna.storages.journal import BaseJournalBackend

from dse.errors import UserError

SQLITE_NAME = "study.db"
JOURNAL_NAME = "journal.log"
LOCK_SUFFIX = ".flock"


@dataclass(frozen=True)
class StorageRef:
    kind: str  # "sqlite" | "rdb" | "journal"
    url: str  # SQLAlchemy URL, or the journal file path
    default: bool = False  # the default under results/<study>/ (its folder is created)

    @property
    def display(self) -> str:
        return mask(self.url)

    @property
    def path(self) -> Path | None:
        if self.kind == "journal":
            return Path(self.url)
        if self.kind == "sqlite":
            return Path(self.url[len("sqlite:///"):])
        return None


def mask(url: str) -> str:
    """The URL with its password (which may contain '/' or ':') replaced by ***."""
    return re.sub(r"://([^:/@]+):.*@", r"://\1:***@", url)


def parse_storage(value: str) -> StorageRef:
    value = value.strip()
    if value.endswith(".log"):
        return StorageRef("journal", str(Path(value).expanduser()))
    if value.startswith("sqlite:"):
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise UserError(f"storage {value}: a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return StorageRef("sqlite", value)
    if "://" in value:
        return StorageRef("rdb", value)
    if value.endswith(".db") or value.endswith(".sqlite"):
        return StorageRef("sqlite", f"sqlite:///{Path(value).expanduser()}")
    raise UserError(f"storage '{value}': give a SQLAlchemy URL (sqlite:///x.db, postgresql://user@host/db) "
                    "or a journal file path ending in .log")


def resolve_storage(study_name: str, results_dir: str | Path, override: str | None,
                    from_file: str | None) -> StorageRef:
    """The storage a command uses: --storage, else the study file's, else the default under results/
    (the journal file, or the SQLite file a study made before the journal became the default)."""
    if override:
        return parse_storage(override)
    if from_file:
        return parse_storage(from_file)
    folder = Path(results_dir) / study_name
    db = folder / SQLITE_NAME
    if db.exists():
        return StorageRef("sqlite", f"sqlite:///{db}", True)
    return StorageRef("journal", str(folder / JOURNAL_NAME), True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


_listening = False


def _listen_sqlite() -> None:
    global _listening
    if not _listening:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", _sqlite_pragmas)
        _listening = True


def _fast_rdb_class():
    """RDBStorage without the per-parameter 'previous distribution' query, when Optuna's private
    method still has the signature this relies on; plain RDBStorage otherwise."""
    from optuna.storages import RDBStorage

    method = getattr(RDBStorage, "_set_trial_param_without_commit", None)
    params = list(inspect.signature(method).parameters) if method else []
    if params[-1:] != ["previous_distribution"]:
        return RDBStorage

    class FastRDBStorage(RDBStorage):
        def _set_trial_param_without_commit(self, session, trial_id, param_name, param_value_internal,
                                            distribution, previous_distribution=None):
            return super()._set_trial_param_without_commit(session, trial_id, param_name, param_value_internal,
                                                           distribution, previous_distribution or distribution)

    return FastRDBStorage


def _prepare(path: Path, ref: StorageRef, create: bool) -> None:
    """A file storage's folder: created for the default storage; must exist for one given by the user."""
    if not create:
        if not path.exists():
            raise UserError(f"no study storage at {path}")
        return
    if ref.default:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise UserError(f"cannot open storage {ref.display}: folder {path.parent} does not exist")


def _transient(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__ or ''} {getattr(exc, 'orig', '') or ''}".lower()
    return any(w in text for w in ("already exists", "database is locked", "duplicate", "unique constraint"))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0].strip()


def open_storage(ref: StorageRef, create_dirs: bool = True):
    """An Optuna storage object for the reference."""
    import optuna

    try:
        if ref.kind == "journal":
            from optuna.storages import JournalStorage

            path = Path(ref.url)
            _prepare(path, ref, create_dirs)
            if path.exists() and path.stat().st_size and not _looks_like_journal(path):
                raise UserError(f"storage {path} is not an Optuna journal file")
            return JournalStorage(FlockJournalBackend(str(path)))
        if ref.kind == "sqlite":
            _prepare(ref.path, ref, create_dirs)
            _listen_sqlite()
        url = _driver_url(ref.url)
        cls = _fast_rdb_class()
        engine_kwargs = {"connect_args": {"timeout": 60}} if ref.kind == "sqlite" else {"pool_pre_ping": True}
        if ref.kind == "rdb" and ref.url.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
        # Readers (status/plot/export) never create tables; creators retry the schema creation,
        # which two processes starting on a fresh storage at once may race on.
        for attempt in range(3):
            try:
                storage = cls(url, engine_kwargs=engine_kwargs, skip_table_creation=not create_dirs)
            except Exception as exc:
                if attempt == 2 or not _transient(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            # its connections closed when it is collected and at exit too, which focus-dse makes without
            # the interpreter's teardown (dse/cli.py run): SQLite folds its write-ahead log back into
            # study.db only when the last connection closes (else study.db alone holds no trial)
            weakref.finalize(storage, storage.engine.dispose)
            return storage
    except UserError:
        raise
    except ModuleNotFoundError as exc:
        hint = " (pip install psycopg2-binary)" if "psycopg" in str(exc) else \
            " (pip install pymysql)" if "mysql" in str(exc).lower() else ""
        raise UserError(f"cannot open storage {ref.display}: missing database driver {exc.name}{hint}") from None
    except ImportError:
        hint = " (pip install psycopg2-binary)" if ref.url.startswith("postgres") else ""
        raise UserError(f"cannot open storage {ref.display}: no database driver for it{hint}") from None
    except (optuna.exceptions.StorageInternalError, ValueError, OSError, RuntimeError) as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        raise UserError(f"cannot open storage {ref.display}: {_first_line(cause)}") from None
    except Exception as exc:  # sqlalchemy's errors (ArgumentError, OperationalError, ...) and drivers'
        raise UserError(f"cannot open storage {ref.display}: {type(exc).__name__}: {_first_line(exc)}") from None


class FlockJournalBackend(BaseJournalBackend):
    """Optuna's journal file format (JSON lines, readable by JournalFileBackend and optuna-dashboard)
    with a kernel lock (fcntl.flock on `<file>.flock`; not `<file>.lock`, which is the name of
    Optuna's own lock and which its JournalFileBackend, e.g. in optuna-dashboard, deletes) instead
    of Optuna's lock files, whose waiters poll with growing sleeps (tens of ms per contended
    write), and without an fsync per append: like SQLite in WAL/NORMAL mode, a killed process
    loses nothing written; a power cut could lose the last appends. A last line cut off by a
    kill mid-write is ignored when reading and cut away (under the lock) before the next append.
    Local file systems only (use PostgreSQL across machines)."""

    def __init__(self, file_path: str) -> None:
        self._path = file_path
        self._lock_path = file_path + LOCK_SUFFIX
        if not Path(file_path).exists():
            open(file_path, "ab").close()
        self._offsets: dict[int, int] = {0: 0}
        self._pending: list | None = None  # logs held back by batch()
        self._file_logs: int | None = None  # in a batch, once read: the logs the file holds (it cannot grow)
        # guards _pending and whether this process holds the file's lock; see batch() for why
        self._mutex = threading.Lock()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Appends made inside the block go out together at its end, in one write, and the file stays
        locked for the block, so that nobody appends meanwhile: reads inside it see the file's logs and
        then the block's own, numbered as they will be in the file (the storage learns at once the ids
        of the trials it creates, and whether a write hit a finished trial), and a reader elsewhere sees
        the block's writes whole or not at all (dse/search/claims.py). Keep the block short: it holds
        every other writer. A block inside a block is part of it.
        Threads: another thread's append during the block (a worker's heartbeat) joins it. Appends and the
        block's opening take the file's lock under one mutex, so no thread ever waits for a lock this
        process's block holds: it would hold the storage's thread lock, which the block's thread needs."""
        with self._mutex:
            nested = self._pending is not None
            if not nested:
                lock = open(self._lock_path, "a")
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                except BaseException:  # interrupted while another process held it
                    lock.close()
                    raise
                self._pending, self._file_logs = [], None
        if nested:
            yield
            return
        try:
            yield
        finally:
            with self._mutex:
                pending, self._pending = self._pending, None
                try:
                    if pending:
                        self._write(pending)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
                    lock.close()

    def read_logs(self, log_number_from: int) -> list[dict]:
        # a list, read under the mutex: a block that ends meanwhile cannot append to the file between a
        # read of the file and of the block's logs (they would be read twice)
        with self._mutex:
            pending = self._pending
            if pending is not None and self._file_logs is not None and log_number_from >= self._file_logs:
                return pending[log_number_from - self._file_logs:]  # the file is read; it cannot grow
            logs, end = self._read_file(log_number_from)
            if pending is None:
                return logs
            self._file_logs = end
            return logs + pending[max(0, log_number_from - end):]

    def _read_file(self, log_number_from: int) -> tuple[list[dict], int]:
        """The file's logs from `log_number_from` on, and how many complete lines (logs) it holds."""
        import json

        logs = []
        with open(self._path, "rb") as f:
            start = 0
            if log_number_from in self._offsets:
                f.seek(self._offsets[log_number_from])
                start = log_number_from
            else:  # jump to the furthest offset we know below log_number_from
                known = max(n for n in self._offsets if n <= log_number_from)
                f.seek(self._offsets[known])
                start = known
            end = start
            for number, line in enumerate(f, start=start):
                if not line.endswith(b"\n"):
                    break  # a line still being written (or cut by a kill): not a log yet
                end = number + 1
                self._offsets.setdefault(number + 1, self._offsets[number] + len(line))
                if number < log_number_from:
                    continue
                try:
                    log = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    log = None
                if not isinstance(log, dict) or "op_code" not in log:
                    raise UserError(f"journal {self._path}: corrupt line {number + 1} (not an Optuna journal "
                                    "record)")
                logs.append(log)
        return logs, end

    def append_logs(self, logs) -> None:
        with self._mutex:
            if self._pending is not None:
                self._pending.extend(logs)
                return
            with open(self._lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    self._write(logs)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, logs) -> None:
        """Append the logs (the caller holds the file's lock)."""
        import json

        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with open(self._path, "r+b") as f:
            end = _complete_end(f)
            f.seek(end)
            f.truncate()  # a last line cut off by a killed writer would glue onto ours
            f.write(data)


def _driver_url(url: str) -> str:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3; use psycopg2 when only that is installed."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def _looks_like_journal(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1)
    return head == b"{"


def _complete_end(f) -> int:
    """The offset just past the file's last newline (0 when it has none): where complete lines end."""
    size = f.seek(0, 2)
    if size:  # the usual case, a complete last line: one byte read, not a 64 kB chunk per append
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return size
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        chunk = f.read(pos - start)
        if start + len(chunk) == size and chunk.endswith(b"\n"):
            return size
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0
