"""``firegw dashboards push``: the folder, the datasource and every dashboard into a running Grafana.

docker-compose provisions all of this from files; ``push`` is for a Grafana that already exists (the
brigade's own, a cloud instance) and is reached only over its HTTP API, through grafana-client.

Idempotent by comparison, not by blind overwrite: each object is read first and written only when it
differs from what the code wants, so a second run makes GET requests only and reports every object as
unchanged. That keeps Grafana's version history free of no-op saves and makes ``push`` safe in a cron job.

- Folder ``Fire safety`` (uid ``fire-safety``): created, or renamed back if its title drifted.
- Datasource ``firegw-influxdb``: created, or updated when its URL, database, auth header or user
  differ. Secrets cannot be read back from Grafana, so a token or password is sent on creation, when
  Grafana holds none, or with ``--update-secrets``. A provisioned (read-only) datasource is left alone.
- Dashboards: ``POST /api/dashboards/db`` with ``folderUid`` and ``overwrite: true`` when the stored JSON
  differs from the generated JSON (Grafana's own additions, ``id`` and ``version``, are ignored). A
  dashboard provisioned from files cannot be saved over the API; it is reported, not overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from dashboards.boards.frame import FOLDER_TITLE, FOLDER_UID
from dashboards.build import Generated, generate_all
from dashboards.influxql import DATASOURCE_TYPE, DATASOURCE_UID

Action = Literal["created", "updated", "unchanged", "skipped"]
#: Keys Grafana adds to or changes in a stored dashboard; everything else must match what we generate.
GRAFANA_OWNED_KEYS = frozenset({"id", "version"})
COMMIT_MESSAGE = "firegw dashboards push"


class PushError(RuntimeError):
    """Grafana refused a request or could not be reached; the message says which object and why."""


@dataclass(frozen=True)
class InfluxSettings:
    """Where Grafana finds InfluxDB (InfluxQL: 1.x directly, 2.x through its v1 API and a DBRP mapping)."""

    url: str = "http://localhost:8086"
    database: str = "firegw"
    #: InfluxDB 2/3 token, sent as ``Authorization: Token ...`` (as the provisioning file does).
    token: str = ""
    #: InfluxDB 1.x user and password, when authentication is on.
    user: str = ""
    password: str = ""

    def body(self, *, with_secrets: bool) -> dict[str, Any]:
        json_data: dict[str, Any] = {"dbName": self.database, "httpMode": "POST", "version": "InfluxQL"}
        secure: dict[str, str] = {}
        if self.token:
            json_data["httpHeaderName1"] = "Authorization"
            secure["httpHeaderValue1"] = f"Token {self.token}"
        if self.password:
            secure["password"] = self.password
        body: dict[str, Any] = {
            "name": DATASOURCE_UID,
            "uid": DATASOURCE_UID,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "url": self.url,
            "user": self.user,
            "jsonData": json_data,
        }
        if with_secrets and secure:
            body["secureJsonData"] = secure
        return body

    def secret_keys(self) -> set[str]:
        return {
            k for k, present in (("httpHeaderValue1", self.token), ("password", self.password)) if present
        }


@dataclass
class Change:
    kind: Literal["folder", "datasource", "dashboard"]
    name: str
    action: Action
    why: str = ""

    def __str__(self) -> str:
        why = f" ({self.why})" if self.why else ""
        return f"{self.kind:<10} {self.name}: {self.action}{why}"


@dataclass
class PushReport:
    changes: list[Change] = field(default_factory=list)

    def add(
        self, kind: Literal["folder", "datasource", "dashboard"], name: str, action: Action, why: str = ""
    ) -> None:
        self.changes.append(Change(kind, name, action, why))

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        return ", ".join(
            f"{self.count(a)} {a}" for a in ("created", "updated", "unchanged", "skipped") if self.count(a)
        )


# -- the Grafana API, typed ---------------------------------------------------------------------------------


class Grafana:
    """The handful of grafana-client calls ``push`` makes, with types and "not found" as ``None``."""

    def __init__(self, api: Any) -> None:
        self._api = api

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Grafana:
        from grafana_client.api import GrafanaApi

        credential: str | tuple[str, str] | None = basic_auth if basic_auth is not None else token
        # grafana-client joins the path prefix and "api" without a slash: a Grafana under /grafana needs
        # "/grafana/".
        base = url if url.endswith("/") else url + "/"
        return cls(GrafanaApi.from_url(base, credential=credential, timeout=timeout))

    @staticmethod
    def _missing(exc: Exception) -> bool:
        return getattr(exc, "status_code", None) == 404

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        from grafana_client.client import GrafanaException

        try:
            result = fn(*args, **kwargs)
        except GrafanaException as exc:
            if self._missing(exc):
                return None
            raise PushError(f"{what}: {exc.message}") from exc
        except OSError as exc:  # connection refused, DNS, TLS: niquests' errors are OSErrors
            raise PushError(f"{what}: {exc}") from exc
        return cast(dict[str, Any], result) if isinstance(result, dict) else {}

    def folder(self, uid: str) -> dict[str, Any] | None:
        return self._call(f"GET folder {uid}", self._api.folder.get_folder, uid)

    def create_folder(self, uid: str, title: str) -> None:
        self._call(f"create folder {uid}", self._api.folder.create_folder, title, uid=uid)

    def rename_folder(self, uid: str, title: str) -> None:
        self._call(f"update folder {uid}", self._api.folder.update_folder, uid, title=title, overwrite=True)

    def datasource(self, uid: str) -> dict[str, Any] | None:
        return self._call(f"GET datasource {uid}", self._api.datasource.get_datasource_by_uid, uid)

    def create_datasource(self, body: dict[str, Any]) -> None:
        self._call(f"create datasource {body['uid']}", self._api.datasource.create_datasource, body)

    def update_datasource(self, uid: str, body: dict[str, Any]) -> None:
        self._call(f"update datasource {uid}", self._api.datasource.update_datasource_by_uid, uid, body)

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        return self._call(f"GET dashboard {uid}", self._api.dashboard.get_dashboard, uid)

    def save_dashboard(self, dashboard: dict[str, Any], folder_uid: str) -> None:
        body = {"dashboard": dashboard, "folderUid": folder_uid, "overwrite": True, "message": COMMIT_MESSAGE}
        self._call(f"save dashboard {dashboard['uid']}", self._api.dashboard.update_dashboard, body)


# -- what to change ---------------------------------------------------------------------------------------


def datasource_differences(
    stored: dict[str, Any], wanted: dict[str, Any], secret_keys: set[str]
) -> list[str]:
    """What differs between the stored datasource and ours (secrets: only whether Grafana holds one)."""
    out = [key for key in ("name", "type", "access", "url", "user") if stored.get(key, "") != wanted[key]]
    stored_json = stored.get("jsonData") or {}
    out += [f"jsonData.{k}" for k, v in wanted["jsonData"].items() if stored_json.get(k) != v]
    held = {k for k, v in (stored.get("secureJsonFields") or {}).items() if v}
    out += [f"secret {k} missing" for k in sorted(secret_keys - held)]
    return out


def dashboard_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Top-level keys whose stored value differs from the generated one (Grafana's own keys ignored)."""
    keys = (set(stored) | set(wanted)) - GRAFANA_OWNED_KEYS
    return sorted(k for k in keys if stored.get(k) != wanted.get(k))


def push(
    grafana: Grafana,
    influx: InfluxSettings | None,
    boards: Sequence[Generated] | None = None,
    *,
    update_secrets: bool = False,
) -> PushReport:
    """Create or update the folder, the datasource (unless ``influx`` is None) and every dashboard."""
    report = PushReport()
    folder_name = f"{FOLDER_TITLE} ({FOLDER_UID})"
    folder = grafana.folder(FOLDER_UID)
    if folder is None:
        grafana.create_folder(FOLDER_UID, FOLDER_TITLE)
        report.add("folder", folder_name, "created")
    elif folder.get("title") != FOLDER_TITLE:
        grafana.rename_folder(FOLDER_UID, FOLDER_TITLE)
        report.add("folder", folder_name, "updated", f"title was {folder.get('title')!r}")
    else:
        report.add("folder", folder_name, "unchanged")

    if influx is None:
        report.add("datasource", DATASOURCE_UID, "skipped", "--no-datasource")
    else:
        _push_datasource(grafana, influx, report, update_secrets=update_secrets)

    for board in boards if boards is not None else generate_all():
        name = f"{board.title} ({board.uid})"
        stored = grafana.dashboard(board.uid)
        if stored is None:
            grafana.save_dashboard(board.data, FOLDER_UID)
            report.add("dashboard", name, "created")
            continue
        meta = stored.get("meta") or {}
        differs = dashboard_differences(stored.get("dashboard") or {}, board.data)
        if meta.get("folderUid") != FOLDER_UID:
            differs.append(f"folder {meta.get('folderUid')!r}")
        if not differs:
            report.add("dashboard", name, "unchanged")
        elif meta.get("provisioned"):
            report.add(
                "dashboard",
                name,
                "skipped",
                f"provisioned from files, cannot be saved over the API; differs in {', '.join(differs)}: "
                "update dashboards/json on that server instead",
            )
        else:
            grafana.save_dashboard(board.data, FOLDER_UID)
            report.add("dashboard", name, "updated", ", ".join(differs))
    return report


def _push_datasource(
    grafana: Grafana, influx: InfluxSettings, report: PushReport, *, update_secrets: bool
) -> None:
    stored = grafana.datasource(DATASOURCE_UID)
    if stored is None:
        grafana.create_datasource(influx.body(with_secrets=True))
        report.add("datasource", DATASOURCE_UID, "created", influx.url)
        return
    wanted = influx.body(with_secrets=False)
    differs = datasource_differences(stored, wanted, influx.secret_keys())
    if update_secrets and influx.secret_keys():
        differs.append("secrets (--update-secrets)")
    if not differs:
        report.add("datasource", DATASOURCE_UID, "unchanged")
    elif stored.get("readOnly"):
        report.add(
            "datasource",
            DATASOURCE_UID,
            "skipped",
            f"provisioned (read-only); differs in {', '.join(differs)}",
        )
    else:
        body = influx.body(with_secrets=True)
        body["isDefault"] = bool(stored.get("isDefault", False))  # leave the user's default datasource alone
        grafana.update_datasource(DATASOURCE_UID, body)
        report.add("datasource", DATASOURCE_UID, "updated", ", ".join(differs))


def secret(value: str | None, what: str) -> str:
    """``env:NAME`` reads the environment variable (as in gateway.toml), so secrets stay out of ``ps``."""
    if value is None:
        return ""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise PushError(f"{what}: environment variable {name} is not set")
        return os.environ[name]
    return value
