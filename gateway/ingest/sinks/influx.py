"""InfluxDB sinks: the 1.x ``/write`` API (1.x servers, and 2.x/3.x through their v1 compatibility API) and
the 2.x ``/api/v2/write`` API.

Both send line protocol with nanosecond precision, accept batches that are already encoded (the durable
buffer stores encoded batches, so a retry after an outage re-sends the stored bytes, not re-encoded points)
and turn every failure into a ``SinkError`` that says whether a retry can help (see ``classify_status``).
The message says what to fix, since it ends up in the log and in ``BufferedSink.last_error``.

The v1 sink talks HTTP with aiohttp directly: one POST, nothing to configure. The v2 sink goes through
influxdb-client's asyncio client (``InfluxDBClientAsync``), the maintained client for that API.
"""

from __future__ import annotations

import asyncio
import base64
import gzip as gzip_module
import re
from typing import Any

import aiohttp

from gateway.ingest.sinks.base import Point, SinkError, already_committed
from gateway.ingest.sinks.lineprotocol import encode_counted

#: Bodies above this size are gzip-compressed in a worker thread, to keep the event loop responsive.
_GZIP_IN_THREAD_BYTES = 64 * 1024
_DETAIL_CHARS = 500


def classify_status(status: int, detail: str, *, hints: dict[int, str]) -> SinkError:
    """Map an HTTP error status to a ``SinkError``, as Telegraf's InfluxDB outputs do.

    - 429 and 5xx: the server is overloaded or unwell; retry with back-off.
    - 400: the batch itself is bad (line protocol, a field type conflict); it will never succeed, so it is
      not kept (it goes to the dead-letter store). InfluxDB stores the valid points of a partially bad
      batch anyway, and says how many it dropped ("partial write: ... dropped=N", also 422 on 2.x): that
      count is on the error (``SinkError.dropped``), so only those points are counted as lost.
    - 401/403/404: credentials or a missing database/bucket. Retrying blindly does not help, but fixing the
      configuration does, so the batch is kept.
    - 413: the body exceeds the server's limit; not kept (dead-lettered with its bytes), see the hint.
    - any other 4xx: not retryable, not kept.
    """
    detail = detail.strip()[:_DETAIL_CHARS]
    hint = hints.get(status, "")
    dropped = _partial_dropped(detail) if status in (400, 422) else None
    if dropped is not None and not hint:
        hint = "InfluxDB stored the rest of the batch; the dropped points are in the dead-lettered bytes"
    message = f"HTTP {status}: {detail or 'no detail'}" + (f" -> {hint}" if hint else "")
    if status == 429 or status >= 500:
        return SinkError(message, retryable=True)
    if status in (401, 403, 404):
        return SinkError(message, retryable=False, keep=True)
    return SinkError(message, retryable=False, keep=False, dropped=dropped)


_DROPPED = re.compile(r"\bdropped=(\d+)")


def _partial_dropped(detail: str) -> int | None:
    """How many points a "partial write" answer says were dropped (InfluxDB 1.x 400, 2.x 422: the others
    were stored), or None when the answer is no partial write."""
    if "partial write" not in detail:
        return None
    match = _DROPPED.search(detail)
    return int(match.group(1)) if match else None


def connection_error(url: str, exc: BaseException, timeout_s: float) -> SinkError:
    """Network-level failures: all retryable (the server may be restarting)."""
    if isinstance(exc, TimeoutError):
        return SinkError(f"no answer from {url} within {timeout_s:g} s", retryable=True)
    text = str(exc) or type(exc).__name__
    return SinkError(f"cannot reach InfluxDB at {url}: {text}", retryable=True)


async def _maybe_gzip(body: bytes) -> bytes:
    if len(body) >= _GZIP_IN_THREAD_BYTES:
        return await asyncio.to_thread(gzip_module.compress, body, 1)
    return gzip_module.compress(body, 1)


class InfluxV1Sink:
    """Writes to InfluxDB's 1.x API: ``POST /write?db=..&precision=ns`` (and ``rp=..``).

    Credentials are sent as HTTP Basic auth rather than ``u``/``p`` query parameters, so they never appear
    in URLs (proxy and server access logs). Works against InfluxDB 1.x, and 2.x/3.x through their v1
    compatibility endpoint.
    """

    name = "influx_v1"

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        retention_policy: str | None = None,
        timeout_s: float = 10.0,
        gzip: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self.timeout_s = timeout_s
        self.gzip = gzip
        self._params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._params["rp"] = retention_policy
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if username:
            credentials = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._session: aiohttp.ClientSession | None = None
        target = f"database {database!r}" + (
            f" retention policy {retention_policy!r}" if retention_policy else ""
        )
        self._hints = {
            401: "check [storage] username and password",
            403: f'the user needs WRITE permission on {target}: GRANT WRITE ON "{database}" TO <user>',
            404: f'create it (CREATE DATABASE "{database}") or fix [storage] database',
            413: "the batch is larger than the server's [http] max-body-size: raise it, or lower"
            " [buffer] batch_max_points",
        }

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the event loop that is running then.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(limit=4),
            )
        return self._session

    async def write(self, points: list[Point]) -> None:
        body, count = encode_counted(points)
        if count:
            await self.write_encoded(body, count)

    async def write_encoded(self, body: bytes, count: int) -> None:
        if not body:
            return
        data = await _maybe_gzip(body) if self.gzip else body
        try:
            async with self._client().post(
                self.url + "/write", params=self._params, data=data, headers=self._headers
            ) as response:
                if response.status < 300:
                    return
                detail = await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if isinstance(exc, aiohttp.InvalidURL):
                raise SinkError(
                    f"invalid InfluxDB url {self.url!r}: fix [storage] url", retryable=False, keep=True
                ) from exc
            raise connection_error(self.url, exc, self.timeout_s) from exc
        if response.status == 500 and "retention policy not found" in detail:
            raise SinkError(
                f"HTTP 500: {detail.strip()[:200]} -> create it or fix [storage] retention_policy",
                retryable=False,
                keep=True,
            )
        raise classify_status(response.status, detail, hints=self._hints)

    def committed(self) -> asyncio.Future[None]:
        return already_committed()  # ``write`` returned once the points were stored

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class InfluxV2Sink:
    """Writes to InfluxDB 2.x's ``POST /api/v2/write?org=..&bucket=..&precision=ns`` with a token.

    Uses influxdb-client's ``InfluxDBClientAsync`` (its write API sends ``bytes`` bodies unchanged).
    """

    name = "influx_v2"

    def __init__(
        self,
        url: str,
        org: str,
        bucket: str,
        token: str,
        timeout_s: float = 10.0,
        gzip: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.org = org
        self.bucket = bucket
        self.timeout_s = timeout_s
        self.gzip = gzip
        self._token = token
        self._client: Any = None
        self._write_api: Any = None
        self._hints = {
            401: "check [storage] token",
            403: f"the token needs write permission on bucket {bucket!r} in org {org!r}",
            404: f"create bucket {bucket!r} in org {org!r}, or fix [storage] org / bucket",
            413: "the batch is larger than the server accepts: lower [buffer] batch_max_points",
        }

    def _api(self) -> Any:
        # Created on first use: the client opens an aiohttp session, which must happen inside the loop.
        if self._write_api is None:
            from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

            self._client = InfluxDBClientAsync(
                url=self.url,
                token=self._token,
                org=self.org,
                timeout=int(self.timeout_s * 1000),
                enable_gzip=self.gzip,
            )
            self._write_api = self._client.write_api()
        return self._write_api

    async def write(self, points: list[Point]) -> None:
        body, count = encode_counted(points)
        if count:
            await self.write_encoded(body, count)

    async def write_encoded(self, body: bytes, count: int) -> None:
        if not body:
            return
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            await self._api().write(
                bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.NS
            )
        except ApiException as exc:
            if not exc.status:  # the client's own failure before any HTTP exchange
                raise SinkError(f"influxdb-client failed: {exc.reason}", retryable=True) from exc
            detail = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
            raise classify_status(int(exc.status), detail, hints=self._hints) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise connection_error(self.url, exc, self.timeout_s) from exc

    def committed(self) -> asyncio.Future[None]:
        return already_committed()  # ``write`` returned once the points were stored

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._write_api = None
