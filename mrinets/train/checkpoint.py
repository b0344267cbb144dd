"""Atomic checkpoints (one ``.npz`` file each) and the run-directory lock.

A checkpoint holds the model weights, the optimizer variables and a JSON ``state``
(step, epoch, position in the epoch, seed, metrics). It is written to a temporary
file in the same folder, flushed and fsync'ed, then renamed over the previous one,
so a process killed at any moment leaves either the old or the new file, never a
partial one; a write that fails (disk full) leaves the old file and raises
``CheckpointError``. ``MRINETS_TEST_WRITE_PAUSE`` (seconds) pauses each checkpoint
half-way through its write, for tests that kill a run mid-write.
"""

import fcntl
import io
import json
import os
import tempfile
import time
import zipfile

import numpy as np

from mrinets.errors import CheckpointError, UsageError

FORMAT = 1
#: The run directory's folder of checkpoints (``latest.npz``, ``best.npz``).
CHECKPOINTS = "checkpoints"
TEMPORARY_SUFFIX = ".tmp"


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, rename it to ``path``.

    Raises:
        CheckpointError: the write failed (e.g. disk full); ``path`` is unchanged.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=TEMPORARY_SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise CheckpointError(f"Could not write {path!r}: {error.strerror or error}; "
                                  "the previous file there (if any) is unchanged.") from error
        raise
    _fsync_dir(folder)


def remove_temporaries(run_dir):
    """Delete temporary files that a killed writer left in ``run_dir`` (hold its ``RunLock``)."""
    for folder in (run_dir, os.path.join(run_dir, "checkpoints"), os.path.join(run_dir, "figures")):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(".") and name.endswith(TEMPORARY_SUFFIX):
                    os.unlink(os.path.join(folder, name))


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (see ``atomic_write``)."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _values(variables):
    return [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


def save(path, model, optimizer, state):
    """Write ``model``'s weights, ``optimizer``'s variables and ``state`` (a JSON-able dict) to ``path``."""
    arrays = {}
    for i, value in enumerate(_values(model.weights)):
        arrays[f"model/{i:05d}"] = value
    opt_vars = optimizer.variables if optimizer is not None else []
    for i, value in enumerate(_values(opt_vars)):
        arrays[f"optimizer/{i:05d}"] = value
    meta = {
        "format": FORMAT,
        "state": state,
        "model_weights": [w.path for w in model.weights],
        "optimizer_variables": [getattr(v, "path", getattr(v, "name", str(i))) for i, v in enumerate(opt_vars)],
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)

    def write(handle):
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getbuffer()
        handle.write(data[: len(data) // 2])
        time.sleep(float(os.environ.get("MRINETS_TEST_WRITE_PAUSE") or 0))
        handle.write(data[len(data) // 2 :])

    atomic_write(path, write)


def read(path):
    """``(meta, model_arrays, optimizer_arrays)`` of a checkpoint file.

    Raises:
        CheckpointError: missing, truncated or not a mrinets checkpoint.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint {path!r} does not exist.")
    try:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            model = [data[k] for k in sorted(k for k in data.files if k.startswith("model/"))]
            opt = [data[k] for k in sorted(k for k in data.files if k.startswith("optimizer/"))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"Checkpoint {path!r} is not a readable mrinets checkpoint: {error}") from error
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"Checkpoint {path!r} has format {meta.get('format')!r}; this mrinets reads {FORMAT}.")
    return meta, model, opt


def _assign(variables, values, what, path):
    if len(variables) != len(values):
        raise CheckpointError(
            f"Checkpoint {path!r} holds {len(values)} {what} but the current one has {len(variables)}: "
            "the config's model or optimizer differs from the one that wrote it."
        )
    for var, value in zip(variables, values):
        if tuple(var.shape) != value.shape:
            raise CheckpointError(
                f"Checkpoint {path!r}: {what} {getattr(var, 'path', var.name)} has shape {tuple(var.shape)} here and "
                f"{value.shape} in the file: the config's model differs from the one that wrote it."
            )
    for var, value in zip(variables, values):
        var.assign(value)


def restore(path, model, optimizer=None):
    """Load a checkpoint into ``model`` (and ``optimizer``, which must be built); return its ``state``."""
    meta, model_values, opt_values = read(path)
    _assign(model.weights, model_values, "model weights", path)
    if optimizer is not None:
        _assign(optimizer.variables, opt_values, "optimizer variables", path)
    return meta["state"]


class RunLock:
    """An exclusive ``flock`` on ``<run dir>/.lock``; the kernel frees it when the process dies.

    Raises:
        RuntimeError (from ``acquire``): another process holds the lock.
    """

    def __init__(self, folder):
        self.path = os.path.join(folder, ".lock")
        self.handle = None

    def acquire(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UsageError(
                f"Run directory {os.path.dirname(self.path)!r} is in use by {holder}; wait for it to finish "
                "or choose another --output."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        self.handle = handle
        return self

    def release(self):
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
