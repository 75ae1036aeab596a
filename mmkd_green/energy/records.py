"""Durable records: one JSON object per line, appended and fsynced.

``append_record`` writes ``json + '\\n'`` with a single ``write`` and ``flush`` before it returns,
so the record is in the kernel before training goes on: a crash of the process (``kill -9``)
loses at most the segment in flight. The ``fsync`` of the file (and of its directory when the file
is created), which guards against a crash of the machine, runs on one background thread
(:func:`wait_durable`), in order, right after the write: the training thread does not wait for
the disk (~0.3-0.6 ms per fsync here, a third of the meter's cost per epoch). The interpreter's
exit (and a multiprocessing child's, which skips ``atexit``) waits for the pending fsyncs; so does
:func:`wait_durable`.

``read_records`` skips a torn last line (a write interrupted mid-way) and any other bad line (not
UTF-8, not JSON, not a record: :func:`read_records_checked` names them) and reports it; the next
``append_record`` (a resumed run) first ends the torn line with a newline, so the torn bytes never
swallow the new record.
"""
import atexit
import json
import math
import os
import os.path as osp
import queue
import threading
import time
from multiprocessing import util as mp_util
from typing import List, Optional, Tuple


def to_jsonable(obj):
    """Numbers, tensors, numpy values and containers -> plain JSON types (NaN/inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    # tensors, numpy arrays and numpy scalars
    if hasattr(obj, 'tolist'):
        return to_jsonable(obj.tolist())
    return str(obj)


def _fsync_path(path: str) -> None:
    """fsync a file or a directory by path (a file's dirty pages are flushed whichever
    descriptor wrote them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _BackgroundFsync:
    """One daemon thread that fsyncs files (and new files' directories) in submission order.
    Restarted in a forked child; ``cpu_seconds`` is the thread's own CPU time."""

    def __init__(self):
        self._after_fork()
        self.cpu_seconds = 0.0
        if hasattr(os, 'register_at_fork'):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        """A fresh lock and no queue: the parent's may have been held by a thread that does not
        exist in a forked child."""
        self._lock = threading.Lock()
        self._queue: Optional[queue.Queue] = None
        self._pid = None

    def submit(self, path: str, directory: Optional[str] = None) -> None:
        with self._lock:
            if self._queue is None or self._pid != os.getpid():
                self._queue, self._pid = queue.Queue(), os.getpid()
                threading.Thread(target=self._run, args=(self._queue,), daemon=True,
                                 name='mmkd-green-fsync').start()
                # a multiprocessing child (e.g. started by fork) ends with os._exit, which
                # skips atexit; multiprocessing's own exit function runs this first
                mp_util.Finalize(None, self.wait, exitpriority=0)
            self._queue.put((path, directory))

    def _run(self, jobs: queue.Queue) -> None:
        while True:
            path, directory = jobs.get()
            t0 = time.thread_time()
            try:
                _fsync_path(path)
                if directory is not None:
                    _fsync_path(directory)
            finally:
                self.cpu_seconds += time.thread_time() - t0
                jobs.task_done()

    def wait(self) -> None:
        jobs = self._queue
        if jobs is not None and self._pid == os.getpid():
            jobs.join()


_FSYNC = _BackgroundFsync()
atexit.register(_FSYNC.wait)


def wait_durable() -> None:
    """Return once every record appended so far by this process is fsynced."""
    _FSYNC.wait()


def background_fsync_cpu_seconds() -> float:
    """CPU seconds the background fsync thread has used in this process."""
    return _FSYNC.cpu_seconds


def _ends_with_newline(path: str) -> bool:
    """True for an empty file or one whose last byte is a newline."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b'\n'


def append_record(path: str, record: dict) -> None:
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    created = not osp.exists(path)
    line = json.dumps(to_jsonable(record), sort_keys=False) + '\n'
    if not created and not _ends_with_newline(path):
        line = '\n' + line     # end a torn last line (kill -9 mid-write) so it stays alone
    with open(path, 'a', encoding='utf-8') as f:
        f.write(line)
    _FSYNC.submit(path, directory if created else None)


def write_json_atomic(path: str, obj, derived: bool = False, indent: int = 2) -> None:
    """Write ``path`` via a temporary file and ``os.replace``: a crash of the process never leaves
    it half-written. The temporary file is fsynced before the rename and the folder after it.
    ``derived=True`` (a file rebuilt from the records, e.g. ``summary.json``): both fsyncs run
    after the rename on the background thread, so a crash of the machine in the next
    milliseconds may leave the file empty (rebuild it from ``carbon.jsonl``), never torn."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(to_jsonable(obj), f, indent=indent)
        f.write('\n')
        if not derived:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if derived:
        _FSYNC.submit(path, directory)
    else:
        _fsync_path(directory)


def print_json(obj, path: Optional[str] = None, indent: int = 2) -> None:
    """A benchmark's output: ``obj`` as JSON on stdout and, with ``path``, in that file too
    (:func:`write_json_atomic`)."""
    print(json.dumps(to_jsonable(obj), indent=indent))
    if path:
        write_json_atomic(path, obj, indent=indent)


#: record fields that hold a number (or null) whenever present; the ``components`` entries'
#: ``energy_j`` too
NUMERIC_FIELDS = ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds', 'train_flops',
                  'infer_flops_per_image', 'energy_j_it', 'pue', 'carbon_intensity')


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def record_problem(record) -> Optional[str]:
    """Why a decoded line is not a usable record (``None`` if it is): a record is a JSON object
    with a string ``type`` whose :data:`NUMERIC_FIELDS` and component ``energy_j`` are numbers
    or null."""
    if not isinstance(record, dict):
        return f'not a JSON object ({type(record).__name__})'
    if not isinstance(record.get('type'), str):
        return 'no "type" field'
    for key in NUMERIC_FIELDS:
        if not _is_number(record.get(key)):
            return f'"{key}" is {record[key]!r}, not a number'
    components = record.get('components')
    if components is not None:
        if not isinstance(components, dict) or \
                not all(isinstance(c, dict) for c in components.values()):
            return '"components" is not an object of objects'
        for name, c in components.items():
            if not _is_number(c.get('energy_j')):
                return f'components.{name}.energy_j is {c["energy_j"]!r}, not a number'
    return None


def read_records_checked(path: str) -> Tuple[List[dict], List[Tuple[int, str]]]:
    """``(records, [(line number, why it was skipped), ...])``.

    Lines are decoded one by one, so a byte that is not UTF-8 (a disk or copy fault) costs only
    its own line; a line that is not JSON (e.g. torn by a kill mid-write), not an object (``null``)
    or holds a non-number where a number belongs (:func:`record_problem`) is skipped and named.
    Raises ``OSError`` only when the file itself cannot be read."""
    records, problems = [], []
    with open(path, 'rb') as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode('utf-8').strip()
            except UnicodeDecodeError as err:
                problems.append((number, f'not UTF-8 ({err.reason} at byte {err.start})'))
                continue
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError as err:   # JSONDecodeError; also NaN-free oddities
                problems.append((number, f'not JSON ({err})'))
                continue
            why = record_problem(record)
            if why is None:
                records.append(record)
            else:
                problems.append((number, why))
    return records, problems


def describe_problems(path: str, problems: List[Tuple[int, str]], limit: int = 5) -> str:
    """``'carbon.jsonl: skipped 2 bad line(s): line 3 (not UTF-8 ...); line 7 (...)'``."""
    shown = '; '.join(f'line {n} ({why})' for n, why in problems[:limit])
    more = f'; and {len(problems) - limit} more' if len(problems) > limit else ''
    return f'{path}: skipped {len(problems)} bad line(s): {shown}{more}'


def read_records(path: str) -> Tuple[List[dict], int]:
    """``(records, number of bad lines skipped)`` (:func:`read_records_checked`)."""
    records, problems = read_records_checked(path)
    return records, len(problems)
