"""Files a run writes: each one replaced whole or not at all, never with a NaN in it, and the per-step metrics on disk
as they happen (a crash or Ctrl-C keeps them)."""
import json
import math
import os
import tempfile
from contextlib import contextmanager, suppress

from nano_rlhf import distributed
from nano_rlhf.common import UserError


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_write(path: str, mode: str = "w"):
    """Write `path` all or nothing: yield a temp file next to it with a name of its own (two runs writing the same
    path never share a temp file), then flush, fsync and rename it over `path`. On any error, Ctrl-C included,
    the temp file is removed and `path` keeps its old content. Under torchrun, rank 0 alone writes: another rank's
    data goes to /dev/null (nano_rlhf/distributed.py)."""
    if not distributed.is_main():
        with open(os.devnull, mode) as f:
            yield f
        return
    if os.path.lexists(path) and not os.path.isfile(path):       # never rename over a folder, /dev/null, a pipe
        raise UserError(f"{path} is not a regular file: refusing to replace it; move it or write elsewhere")
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)            # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def read_json(path) -> object:
    """A JSON file's content, or None when it is missing or not readable JSON (a cache to recompute, say)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError, RecursionError):
        return None


def finite_or_none(obj):
    """The same data with every NaN or infinity replaced by None (JSON null: "undefined", e.g. an SE of n = 1)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json(path: str, obj):
    """Write JSON atomically; a non-finite number is written as null (never as the invalid NaN)."""
    with atomic_write(path) as f:
        json.dump(finite_or_none(obj), f, indent=2, allow_nan=False)
        f.write("\n")


class MetricsLog:
    """Rows appended to <out_dir>/<stage>_metrics.partial.jsonl as they happen, so a crash or Ctrl-C keeps them;
    close() moves the file to <stage>_metrics.jsonl once the run has saved. Summaries and PNGs read rows().

    The open file is locked (POSIX flock), so a second run of the same stage into the same folder stops with one
    line instead of mixing its rows and files with the first one's; the OS drops the lock however a run ends.
    Under torchrun, rank 0 alone keeps the log: on another rank it writes nowhere and has no rows."""
    _open = {}      # partial path -> the MetricsLog of this process that holds it

    def __init__(self, out_dir: str, stage: str):
        os.makedirs(out_dir, exist_ok=True)
        self.path = f"{out_dir}/{stage}_metrics.jsonl"
        self.partial = f"{out_dir}/{stage}_metrics.partial.jsonl"
        if not distributed.is_main():
            self.path = self.partial = os.devnull
            self.file = open(os.devnull, "a")
            return
        if (stale := MetricsLog._open.pop(os.path.abspath(self.partial), None)) is not None:
            stale.file.close()              # an earlier main() of this process that failed: take its place
        self.file = open(self.partial, "a")
        try:
            import fcntl
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:                 # not POSIX: no lock
            pass
        except BlockingIOError:
            self.file.close()
            raise UserError(f"another {stage} run is writing into {out_dir}/ ({self.partial} is locked): wait for "
                            "it to finish, or pass another --out-dir") from None
        self.file.truncate(0)
        MetricsLog._open[os.path.abspath(self.partial)] = self

    def log(self, kind: str, **row):
        """One row, e.g. log("train", step=3, loss=2.1): written and flushed at once."""
        self.file.write(json.dumps(finite_or_none({"kind": kind, **row}), allow_nan=False) + "\n")
        self.file.flush()

    def rows(self, kind: str) -> list[dict]:
        """The rows of this kind so far, read back from the file (None where a value was not finite)."""
        if self.partial == os.devnull:
            return []
        if not self.file.closed:
            self.file.flush()
        with open(self.partial if not self.file.closed else self.path) as f:
            return [r for r in map(json.loads, f) if r.pop("kind") == kind]

    def close(self):
        if self.partial == os.devnull:
            return self.file.close()
        self.file.flush()
        os.fsync(self.file.fileno())
        os.replace(self.partial, self.path)     # while still locked: no other run can start on the old name yet
        self.file.close()
        MetricsLog._open.pop(os.path.abspath(self.partial), None)
