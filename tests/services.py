"""Private Mosquitto and InfluxDB 1.x processes for the tests.

The tests talk to the real servers (Debian's ``mosquitto`` and ``influxdb`` packages, installed by
``scripts/ensure-services.sh``), never to mocks: reconnects, back-pressure, line-protocol parsing and
HTTP status codes are exactly what production sees. Each service runs from a temporary directory on free
ports on 127.0.0.1, so tests never touch a system instance and can run next to one.

- ``start()`` / ``stop()`` / ``restart()`` keep the same ports (and InfluxDB keeps its data): tests use
  them to cut the service in the middle of a run.
- Output goes to ``stdout.log`` / ``stderr.log`` in the temporary directory; when a start fails, the error
  includes their tail.
- Every started process is stopped at interpreter exit (``atexit``) as well as by the fixtures'
  finalizers, and gets ``PR_SET_PDEATHSIG`` so that it dies with the test process even if that is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ENSURE_HINT = "install it with `sudo bash scripts/ensure-services.sh` (or `make services`)"
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_live: set[_Service] = set()


class ServiceError(RuntimeError):
    """A service binary is missing or a process failed to start."""


def find_binary(name: str) -> str:
    """The path of a server binary; Debian puts mosquitto in /usr/sbin, which is not on a user's PATH."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServiceError(f"{name} not found: {ENSURE_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop_all() -> None:
    for service in list(_live):
        with contextlib.suppress(Exception):
            service.stop()


atexit.register(_stop_all)


class _Service:
    """A server process with its own temporary directory, restartable on the same ports.

    ``binary`` is the server's path; ``user``, when a subclass sets it, is the system user it runs as.
    """

    name = "service"

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user: str | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"firegw-{self.name}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # -- to be provided by subclasses -------------------------------------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the process (no-op when running) and wait until it serves requests."""
        if self.running:
            return
        self.process = None
        stdout = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child, closed below
        stderr = open(self.workdir / "stderr.log", "ab")  # noqa: SIM115
        try:
            # PDEATHSIG fires when the *thread* that forked exits; only the main thread lives long enough.
            # With ``user`` set, the child changes user before it calls preexec_fn, so the signal stays set.
            in_main = threading.current_thread() is threading.main_thread()
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                env=self._env(),
                user=self.user,
                preexec_fn=_die_with_parent if in_main else None,
            )
        finally:
            stdout.close()
            stderr.close()
        _live.add(self)
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise ServiceError(f"{self.name} exited with code {code} while starting\n{self.logs()}")
            if self.ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"{self.name} not ready after {timeout_s:g} s\n{self.logs()}")
            time.sleep(0.05)

    #: The signal that asks the server to stop.
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the process (``stop_signal``, then SIGKILL); no-op when it is not running."""
        process, self.process = self.process, None
        _live.discard(self)
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), like a power cut for the process."""
        process, self.process = self.process, None
        _live.discard(self)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        """Start the service again if a test left it stopped (or it died)."""
        if not self.running:
            self.start()

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self, max_chars: int = 4000) -> str:
        parts = []
        for name in ("stdout.log", "stderr.log"):
            path = self.workdir / name
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {path} (last {max_chars} chars) ---\n{text[-max_chars:]}")
        return "\n".join(parts)

    def _env(self) -> dict[str, str]:
        return dict(os.environ)


class MosquittoService(_Service):
    """A private Mosquitto broker: anonymous access, no persistence unless asked, deep queues.

    ``max_queued_messages`` is large because tests publish bursts at full speed to persistent sessions that
    may be offline; the default (1000) would make the broker drop messages and tests flaky for the wrong
    reason. ``max_inflight_messages`` stays at a normal window so flow control is exercised as in production.
    """

    name = "mosquitto"

    def __init__(self, *, persistence: bool = False, max_queued_messages: int = 1_000_000) -> None:
        super().__init__(find_binary("mosquitto"))
        self.persistence = persistence
        self.max_queued_messages = max_queued_messages
        self.config_path = self.workdir / "mosquitto.conf"
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            f"max_queued_messages {self.max_queued_messages}",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "connection_messages false",
        ]
        if os.geteuid() == 0:
            # Started as root, mosquitto switches to the "mosquitto" user, and that credential change clears
            # PR_SET_PDEATHSIG: the broker would outlive a killed test run. Stay root (private, 127.0.0.1).
            lines.append("user root")
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def ready(self) -> bool:
        """True once an MQTT CONNECT gets a CONNACK: an open port alone could be someone else's."""
        connect = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"  # MQTT 3.1.1, clean session, empty id
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(connect)
                answer = sock.recv(4)
                sock.sendall(b"\xe0\x00")  # DISCONNECT
        except OSError:
            return False
        return answer == b"\x20\x02\x00\x00"


class InfluxService(_Service):
    """A private InfluxDB 1.x (``influxd``) with its data in a temporary directory.

    Quiet (no HTTP request log, warnings only), no usage reporting, no ``_internal`` monitor database,
    unlimited request bodies and query rows. Data survives ``stop()``/``start()`` (it is the same data
    directory), as it would on a real server restart.
    """

    name = "influxdb"

    def __init__(self) -> None:
        super().__init__(find_binary("influxd"))
        self.rpc_port = free_port()
        while self.rpc_port == self.port:
            self.rpc_port = free_port()
        self.config_path = self.workdir / "influxdb.conf"
        self._write_config()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _write_config(self) -> None:
        d = self.workdir
        self.config_path.write_text(
            f"""
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d}/meta"
  logging-enabled = false

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = false
  log-enabled = false
  write-tracing = false
  pprof-enabled = false
  max-body-size = 0
  max-row-limit = 0

[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
"""
        )

    def command(self) -> list[str]:
        return [self.binary, "run", "-config", str(self.config_path)]

    def _env(self) -> dict[str, str]:
        # INFLUXDB_* variables override the config file; a developer's shell must not leak into the tests.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return int(response.status) == 204
        except (OSError, urllib.error.URLError):
            return False

    # -- helpers ------------------------------------------------------------------------------------------

    def query(self, influxql: str, db: str | None = None, *, post: bool = False) -> dict[str, Any]:
        """Run InfluxQL and return the decoded JSON (``epoch=ns`` times). Raises on an error result."""
        params = {"q": influxql, "epoch": "ns"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        if post:
            request = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        else:
            request = urllib.request.Request(f"{self.url}/query?{data.decode()}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            raise ServiceError(f"InfluxQL {influxql!r} failed: HTTP {exc.code} {exc.read()!r}") from exc
        for statement in result.get("results", []):
            if "error" in statement:
                raise ServiceError(f"InfluxQL {influxql!r} failed: {statement['error']}")
        if "error" in result:
            raise ServiceError(f"InfluxQL {influxql!r} failed: {result['error']}")
        return result

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', post=True)

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"', post=True)

    def rows(self, influxql: str, db: str) -> list[dict[str, Any]]:
        """Result rows as dicts (column -> value), tags of ``GROUP BY`` series merged in."""
        out: list[dict[str, Any]] = []
        for statement in self.query(influxql, db).get("results", []):
            for series in statement.get("series", []):
                columns = series["columns"]
                tags = series.get("tags", {})
                for values in series["values"]:
                    out.append(
                        {
                            **tags,
                            "_measurement": series.get("name"),
                            **dict(zip(columns, values, strict=True)),
                        }
                    )
        return out

    def count_points(self, db: str, measurement: str | None = None) -> int:
        """How many points are stored (not values: a point with five fields counts once).

        ``SELECT COUNT(*)`` counts values per field, and a ``COUNT(field)`` misses points that lack that
        field, so neither counts points in general. A raw ``SELECT *`` returns exactly one row per stored
        point (series + timestamp; InfluxDB itself merges a rewrite of the same point), so the rows are
        counted, streamed in chunks so that large databases do not need one huge JSON document.
        """
        source = f'"{measurement}"' if measurement else "/.*/"
        params = urllib.parse.urlencode(
            {
                "q": f"SELECT * FROM {source}",
                "db": db,
                "epoch": "ns",
                "chunked": "true",
                "chunk_size": "10000",
            }
        )
        total = 0
        try:
            with urllib.request.urlopen(f"{self.url}/query?{params}", timeout=60) as response:
                for line in response:
                    if not line.strip():
                        continue
                    chunk = json.loads(line)
                    for statement in chunk.get("results", []):
                        if "error" in statement:
                            raise ServiceError(f"counting points in {db}.{source}: {statement['error']}")
                        for series in statement.get("series", []):
                            total += len(series["values"])
        except urllib.error.HTTPError as exc:
            raise ServiceError(f"counting points in {db}.{source}: HTTP {exc.code} {exc.read()!r}") from exc
        return total


def _postgres_bin(name: str) -> str:
    """Debian keeps PostgreSQL's server binaries in /usr/lib/postgresql/<version>/bin, off the PATH."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise ServiceError(f"{name} not found: {ENSURE_HINT}")


class PostgresService(_Service):
    """A private PostgreSQL server: its own cluster in a temp dir, trust auth on 127.0.0.1, fsync off.

    PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the ``postgres``
    system user that Debian's package creates, and the server is started as that user.
    """

    name = "postgres"

    #: PostgreSQL's "fast" shutdown: SIGTERM is its "smart" one, which waits for every client to disconnect
    #: (a test's engine left open held the suite's end for 10 s, until the SIGKILL).
    stop_signal = signal.SIGINT

    def __init__(self) -> None:
        super().__init__(_postgres_bin("postgres"))
        self.user = "postgres" if os.geteuid() == 0 else None
        self.data = self.workdir / "data"
        if self.user is not None:
            shutil.chown(self.workdir, user=self.user, group=self.user)
        result = subprocess.run(
            [_postgres_bin("initdb"), "-D", str(self.data), "-U", "firegw", "--auth=trust", "-E", "UTF8"],
            user=self.user,
            capture_output=True,
            text=True,
            cwd=self.workdir,
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    @property
    def url(self) -> str:
        """An SQLAlchemy URL (psycopg 3 driver) for the default database."""
        return f"postgresql+psycopg://firegw@{self.host}:{self.port}/postgres"

    def command(self) -> list[str]:
        return [
            self.binary,
            "-D", str(self.data),
            "-p", str(self.port),
            "-k", str(self.workdir),
            "-c", f"listen_addresses={self.host}",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip

    def ready(self) -> bool:
        try:
            import psycopg

            with psycopg.connect(
                host=self.host, port=self.port, user="firegw", dbname="postgres", connect_timeout=1
            ):
                return True
        except Exception:
            return False

    def create_database(self, name: str) -> str:
        """A fresh database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user="firegw", dbname="postgres", autocommit=True
        ) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://firegw@{self.host}:{self.port}/{name}"
