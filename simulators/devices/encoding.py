"""How simulated devices write their payloads: compact UTF-8 JSON and China Standard Time.

Payloads are compact UTF-8 JSON (``separators=(",", ":")``, ``ensure_ascii=False``), keys in the order
``docs/wire-formats.md`` shows them; GB/T 45839 and camera event ids carry China Standard Time. Shared by
every device family so that all of them write the same bytes for the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

#: GB/T 45839 ``datetime`` strings are China Standard Time (UTC+8), no daylight saving.
CST = timezone(timedelta(hours=8), "CST")


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON as the devices send it (Chinese text stays UTF-8, not ``\\uXXXX``)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def cst_datetime(ts_ms: int) -> str:
    """``YYYY-MM-DD hh:mm:ss`` in China Standard Time, as GB/T 45839 appendix D writes it."""
    moment = datetime.fromtimestamp(ts_ms // 1000, tz=UTC).astimezone(CST)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
