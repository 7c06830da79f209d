"""The Voila server process of the launcher: start, readiness of the pre-heated apps, and a clean stop.

:class:`VoilaServer` runs the command of :func:`qnn.apps.launcher.voila_command` as a child process and

* tells when an app's pre-heated kernel has drawn its first figure: the launcher gives Voila (and so every kernel it
  starts) the environment variable :data:`READY_ENV`, a fresh folder; an app (:class:`qnn.apps.base.App`) writes a
  small JSON file there after its first figure (:func:`announce_ready`), which :meth:`VoilaServer.ready` reads;
* stops Voila *and every kernel it started* (:meth:`VoilaServer.stop`): Voila is asked to stop with SIGTERM (it then
  shuts its kernels down itself), and whatever is left of the process tree seen while it ran (the kernels run in
  sessions of their own, so a process-group signal would miss them) is terminated, then killed. On Linux the
  server also receives SIGTERM if the launcher dies without stopping it (``PR_SET_PDEATHSIG``).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["READY_ENV", "VoilaServer", "announce_ready", "process_tree"]

#: Environment variable naming the folder where apps announce their first figure (set by :class:`VoilaServer`).
READY_ENV = "QNN_APPS_READY_DIR"


def announce_ready(name: str, seconds: float) -> Path | None:
    """Record that app ``name`` drew its first figure in this process (in ``$QNN_APPS_READY_DIR``, if set).

    Writes ``<name>.<pid>.json`` atomically (temporary file + ``os.replace``) with the app's name, the process id,
    whether Voila started this kernel for its pre-heated pool (``VOILA_PREHEAT``) and the time of the first
    computation. Returns the file's path, or ``None`` when the variable is not set (a plain notebook).
    """
    folder = os.environ.get(READY_ENV)
    if not folder or not os.path.isdir(folder):
        return None
    path = Path(folder) / f"{name}.{os.getpid()}.json"
    record = {"app": name, "pid": os.getpid(), "preheated": os.environ.get("VOILA_PREHEAT") == "True",
              "first_figure_seconds": round(float(seconds), 4), "time": time.time()}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    os.replace(tmp, path)
    return path


def process_tree(pid: int) -> list:
    """``psutil.Process`` objects of ``pid`` and all its descendants (empty if ``pid`` is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _die_with_parent() -> None:   # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this process when its parent (the launcher) dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class VoilaServer:
    """A Voila child process with readiness reports and a clean stop.

    Parameters
    ----------
    command : sequence of str
        The Voila command line (:func:`qnn.apps.launcher.voila_command`).
    cwd : Path
        Working directory of the server.
    stdout, stderr : file or None
        Where the server's output goes (default: inherited).
    """

    def __init__(self, command: Sequence[str], cwd: Path, *, stdout=None, stderr=None):
        self.command = list(command)
        self.cwd = Path(cwd)
        self.stdout, self.stderr = stdout, stderr
        self.ready_dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self._seen: dict[int, object] = {}

    def start(self) -> VoilaServer:
        """Start the server (returns at once; the kernels of the pool warm up in the background)."""
        self.ready_dir = Path(tempfile.mkdtemp(prefix="qnn-apps-ready-"))
        env = dict(os.environ, **{READY_ENV: str(self.ready_dir)})
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdout=self.stdout, stderr=self.stderr,
                                        start_new_session=True,     # Ctrl-C in a terminal reaches the launcher only
                                        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        return self

    def poll(self) -> int | None:
        """The server's exit status, or ``None`` while it runs."""
        return None if self.process is None else self.process.poll()

    def remember_processes(self) -> list:
        """Record the server's current process tree (kernels included) for :meth:`stop`; returns it."""
        tree = process_tree(self.process.pid) if self.process is not None else []
        for proc in tree:
            self._seen.setdefault(proc.pid, proc)
        return tree

    def ready(self) -> list[dict]:
        """The readiness records written so far by the apps' kernels (see :func:`announce_ready`)."""
        if self.ready_dir is None or not self.ready_dir.is_dir():
            return []
        records = []
        for path in sorted(self.ready_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                records.append(json.loads(path.read_text()))
        return records

    def wait_ready(self, names: Sequence[str], timeout: float, *, preheated: bool = True) -> float:
        """Block until every app of ``names`` has a (pre-heated) kernel with its first figure drawn; returns the
        seconds waited. Raises ``TimeoutError`` (or ``RuntimeError`` if the server exits)."""
        start = time.monotonic()
        while True:
            self.remember_processes()
            done = {r["app"] for r in self.ready() if r["preheated"] or not preheated}
            if set(names) <= done:
                return time.monotonic() - start
            if self.poll() is not None:
                raise RuntimeError(f"voila exited with status {self.poll()} before the apps were ready")
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"apps {sorted(set(names) - done)} not ready within {timeout} s")
            time.sleep(0.2)

    def stop(self, grace: float = 20.0) -> int | None:
        """Stop Voila and every process it started; returns Voila's exit status.

        SIGTERM lets Voila shut its kernels down (up to ``grace`` seconds, while the process tree is still being
        recorded); then every recorded process still alive gets SIGTERM, and SIGKILL 3 s later.
        """
        import psutil

        if self.process is None:
            return None
        self.remember_processes()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.process.poll() is None and time.monotonic() < deadline:
                self.remember_processes()
                time.sleep(0.1)
        left = [p for p in self._seen.values() if _alive(p)]
        for proc in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, left = psutil.wait_procs(left, timeout=3.0)
        for proc in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(left, timeout=3.0)
        status = self.process.wait()
        if self.ready_dir is not None:
            shutil.rmtree(self.ready_dir, ignore_errors=True)
        return status


def _alive(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
