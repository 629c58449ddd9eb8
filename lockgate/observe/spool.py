"""An append-only file for log records that could not be written to the database.

Records land here when the sink's queue is full or the database is unavailable, and are
replayed into the database later. Several gateway processes may share one spool path.

File format: frames of `length (4 bytes, big-endian) | crc32 (4 bytes) | msgpack(LogRecord)`.
A frame cut short by a crash (or failing its checksum) is skipped and counted in `skipped`.

Replay first renames the file to `<name>.<time>-<pid>.replaying`, so appends that arrive
meanwhile start a new file; each renamed file is deleted only after all of its records
were handed over, so a failed replay is retried later from the same file.
"""

from __future__ import annotations

import contextlib
import glob
import os
import struct
import sys
import threading
import time
import zlib
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec

from lockgate.observe.record import LogRecord

__all__ = ["Spool"]

_HEADER = struct.Struct(">II")  # payload length, crc32 of the payload


class Spool:
    """The spool file at `path` (created on first append). Thread-safe; process-safe on POSIX."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._lock = threading.Lock()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(LogRecord)
        self.appended = 0  # records appended through this object
        self.skipped = 0  # unreadable frames dropped by finished replays

    def append(self, records: Sequence[LogRecord], *, durable: bool = True) -> None:
        """Append records (and fsync when `durable`). Raises OSError when they could not be written.

        The request path passes durable=False: an fsync per overflowing request would stall
        the event loop exactly when the gateway is busiest; the kernel still has the bytes.
        """
        if not records:
            return
        frames = bytearray()
        for rec in records:
            payload = self._encoder.encode(rec)
            frames += _HEADER.pack(len(payload), zlib.crc32(payload))
            frames += payload
        with self._lock, self._file_lock():
            created = not self.path.exists()
            # 0o600: the spool holds request bodies, like the database does.
            with open(self.path, "ab", opener=lambda p, fl: os.open(p, fl, 0o600)) as f:
                start = f.tell()
                try:
                    f.write(frames)
                    f.flush()
                    if durable:
                        os.fsync(f.fileno())
                except OSError:
                    # Never leave half a frame for the next append to follow (e.g. disk full).
                    with contextlib.suppress(OSError):
                        f.truncate(start)
                    raise
            if created and durable:
                _fsync_dir(self.path.parent)
            self.appended += len(records)

    def pending(self) -> bool:
        """Whether anything waits to be replayed (by this process or another)."""
        try:
            if self.path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
        return any(True for _ in self._replaying_files())

    def replay(self, batch_rows: int = 500) -> Generator[list[LogRecord], None, None]:
        """The spooled records, in batches of at most `batch_rows`.

        A file is deleted when the consumer asks for the batch after its last one, that is,
        after handling all of its records. If the consumer stops early (an exception, or
        closing the generator), the file stays and the next replay starts it over.
        """
        self._rotate()
        for path in sorted(self._replaying_files()):
            yield from self._replay_file(path, max(1, batch_rows))

    def _rotate(self) -> None:
        with self._lock, self._file_lock():
            try:
                if self.path.stat().st_size == 0:
                    return
            except FileNotFoundError:
                return
            target = self.path.with_name(f"{self.path.name}.{time.time_ns():020d}-{os.getpid()}.replaying")
            os.replace(self.path, target)

    def _replaying_files(self) -> Iterator[Path]:
        return self.path.parent.glob(glob.escape(self.path.name) + ".*.replaying")

    def _replay_file(self, path: Path, batch_rows: int) -> Iterator[list[LogRecord]]:
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed by the with below; the generator spans yields)
        except FileNotFoundError:
            return  # another process finished it
        with f:
            if not _try_lock(f) or not _same_file(f, path):
                return  # another process is replaying it, or has just finished
            skipped = 0
            batch: list[LogRecord] = []
            for rec in self._frames(f):
                if rec is None:
                    skipped += 1
                    continue
                batch.append(rec)
                if len(batch) >= batch_rows:
                    yield batch
                    batch = []
            if batch:
                yield batch
            path.unlink(missing_ok=True)
            self.skipped += skipped  # counted once, when the file is done

    def _frames(self, f: BinaryIO) -> Iterator[LogRecord | None]:
        """The records in a spool file; None for each frame that cannot be read."""
        size = os.fstat(f.fileno()).st_size
        while True:
            head = f.read(_HEADER.size)
            if not head:
                return
            if len(head) < _HEADER.size:
                yield None  # a partial trailing frame (crash during append)
                return
            length, crc = _HEADER.unpack(head)
            if length > size - f.tell():
                yield None  # cut short, or a corrupt length: nothing after it can be trusted
                return
            payload = f.read(length)
            if zlib.crc32(payload) != crc:
                yield None
                continue
            try:
                rec: LogRecord | None = self._decoder.decode(payload)
            except msgspec.DecodeError:  # e.g. written by an incompatible version
                rec = None
            yield rec

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialises append and rotate across processes sharing the spool."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if sys.platform == "win32":
            yield  # no flock: one process per spool file
            return
        import fcntl

        with open(self._lock_path, "ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _try_lock(f: BinaryIO) -> bool:
    """Claim a file for replay without waiting; the lock goes with the file's close."""
    if sys.platform == "win32":
        return True
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(f: BinaryIO, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(f.fileno()), path.stat())
    except FileNotFoundError:
        return False


def _fsync_dir(path: Path) -> None:
    """Make a new file's directory entry durable too (POSIX; a no-op elsewhere)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
