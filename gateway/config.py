"""Gateway configuration: one TOML file, parsed once into pydantic models and validated at start-up.

Errors name the key (``mqtt.subscriptions.2.decoder: unknown decoder 'smoke'; known decoders: ...``) and the
file, and all problems are reported at once. Secrets need not be in the file: any string value of the form
``env:NAME`` is read from the environment variable ``NAME`` (a missing variable is an error that names it).
See ``examples/gateway.toml`` for every key with a comment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from collectors.decoders import decoder_names
from collectors.mqtt.config import MqttConfig
from gateway.models import DEVICE_TIME_FLOOR


class ConfigError(ValueError):
    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewaySection(Section):
    id: str = "firegw"
    #: Device registry file (TOML, YAML, JSON or CSV); relative paths are relative to the config file.
    registry: Path = Path("registry.toml")
    #: Durable buffer, dead letters, embedded databases.
    data_dir: Path = Path("var/firegw")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: How often gateway counters are written to the telemetry store.
    stats_interval_s: float = Field(default=10.0, gt=0)
    #: A device time further ahead of the gateway's than this, or before ``device_time_floor``, is a wrong
    #: device clock: the record is stored at the gateway's receive time instead (gateway/ingest/pipeline.py).
    device_clock_ahead_max_s: float = Field(default=900.0, gt=0)
    device_time_floor: AwareDatetime = DEVICE_TIME_FLOOR
    #: A stop (SIGTERM, SIGINT) waits this long for the messages already read to be stored and acknowledged;
    #: what is not by then stays unacknowledged, and the broker sends it again to the next start.
    stop_timeout_s: float = Field(default=10.0, gt=0)


class InfluxV1(Section):
    kind: Literal["influx_v1"]
    url: str = "http://localhost:8086"
    database: str = "firegw"
    username: str | None = None
    password: SecretStr | None = None
    retention_policy: str | None = None


class InfluxV2(Section):
    kind: Literal["influx_v2"]
    url: str = "http://localhost:8086"
    org: str
    bucket: str = "firegw"
    token: SecretStr


class SqliteStorage(Section):
    kind: Literal["sqlite"]
    #: Relative to gateway.data_dir unless absolute.
    path: Path = Path("telemetry.sqlite")


Storage = Annotated[InfluxV1 | InfluxV2 | SqliteStorage, Field(discriminator="kind")]


class BufferSection(Section):
    """The durable on-disk buffer in front of InfluxDB (not used for SQLite, which is local)."""

    max_bytes: int = Field(default=1 << 30, ge=1 << 20)
    segment_bytes: int = Field(default=16 << 20, ge=1 << 16)
    #: Points per write to InfluxDB (its guidance: 5,000-10,000). Each write also costs a few event-loop
    #: turns, which wait behind ingestion under load; at 5,000 the writes fell behind at ~13,000 points/s
    #: (bench/ingest_bench.py: 23,400 msg/s stored end to end, 26,500 with 10,000).
    batch_max_points: int = Field(default=10000, ge=1)
    flush_interval_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)


class ModbusSection(Section):
    enabled: bool = True
    request_timeout_s: float = Field(default=1.0, gt=0)
    retries: int = Field(default=0, ge=0, le=5)
    backoff_max_s: float = Field(default=30.0, gt=0)


class DeadLetterSection(Section):
    max_rows: int = Field(default=100_000, ge=100)


class ApiSection(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: The address residents reach the gateway at, for the QR code on each placard (``{public_url}/p/...``,
    #: docs/reports.md). Empty: the address the placard was requested at (the API's own address).
    public_url: str = ""


class RulesSection(Section):
    """The rule layer: device rules, hazards, grades (docs/rules.md)."""

    enabled: bool = True
    #: Grading policy file; empty means the built-in default (annex 3 of the municipal standard).
    policy: Path | None = None
    #: Hazard store: empty means SQLite ``hazards.sqlite`` in ``gateway.data_dir``; PostgreSQL for many
    #: gateways, e.g. ``postgresql+psycopg://firegw:env:PGPASS@db/firegw``.
    store_url: str = ""
    #: How often hold timers, offline detection and deadlines are evaluated.
    tick_interval_s: float = Field(default=1.0, gt=0)
    #: Every estate's grade is repeated to the telemetry store this often, so "grade now" panels always
    #: find a recent point.
    grade_repeat_s: float = Field(default=300.0, gt=0)
    #: How often the engine reads back what other gateways on the same store changed (hazards filed or
    #: closed through their API, complaints, fires), so that its grades follow; 0 turns it off. Unset: 30 s
    #: on a PostgreSQL store (shared by gateways), off on SQLite (one gateway's own file). Each read walks
    #: the hazards changed in the last minutes on the event loop (about 20 ms per 1,000 of them).
    store_sync_s: float | None = Field(default=None, ge=0)
    #: How often each device's rule state (last heard, hold and recovery timers) is written to the hazard
    #: store, so that a gateway taking over (or restarting) continues it instead of starting every timer
    #: again. None: every 10 s with ``[ha] enabled``, off otherwise (on SQLite its writes contend with the
    #: hazard writes for the one write lock; see docs/high-availability.md). 0: off.
    checkpoint_s: float | None = Field(default=None, ge=0)
    #: Publish grades (retained), hazard changes and alarms to the MQTT broker under this prefix.
    publish: bool = True
    topic_prefix: str = "firegw"


class ReportsSection(Section):
    """Placards and monthly reports (docs/reports.md)."""

    #: Printed on every placard: where residents report a fire hazard.
    hotline: str = "119 / 12345"
    #: A CJK font (.ttf/.ttc, ``path#N`` for face N of a collection); empty: search the usual places.
    font: str = ""


class UiSection(Section):
    """The control-room web UI (docs/control-room-ui.md). By default nothing it shows is loaded from outside
    the gateway: the map is a district outline shipped with it. With ``amap_key`` set, the map draws on
    AMap's (高德) online streets instead, and falls back to the outline when AMap does not load."""

    #: The district outline the map draws: a GeoJSON FeatureCollection, one feature per district with
    #: ``properties.name`` spelled as the registry's ``district``, longitude/latitude in GCJ-02 (the frame of
    #: the registry's estate coordinates). Empty: the bundled outline of 郑州市
    #: (gateway/web/static/maps/SOURCE.md, which also says how to build one for another city).
    map: Path | None = None
    #: The city's name, shown above the map on the duty overview.
    city: str = "郑州市"
    #: An AMap (高德开放平台) Web JS API key (``env:NAME`` keeps it out of the file): the map then draws on
    #: AMap's streets, loaded by each browser from AMap's servers (the page's security policy then allows
    #: AMap's hosts). Empty: the outline only, nothing loaded from outside. AMap's terms apply to its use.
    amap_key: str = Field(default="", max_length=64, pattern=r"^[0-9A-Za-z]*$")
    #: The security code (安全密钥) AMap pairs with keys made since 2021-12-02, given to the browser with the
    #: key (AMap's "plain text" way; its proxy way keeps it on a server of the deployment's own).
    amap_security_code: str = Field(default="", max_length=64, pattern=r"^[0-9A-Za-z]*$")
    #: How long a browser waits for AMap before it draws the outline instead (a closed network never answers).
    amap_timeout_s: float = Field(default=6.0, gt=0, le=60)


class AuthSection(Section):
    """Accounts and roles for the HTTP API and the web UI (docs/rules.md, "Accounts and roles").

    Users, sessions and API tokens live in the hazard store's database (``[rules] store_url``, which can be
    ``env:NAME``); no signing secret is needed, because sessions and tokens are random values stored hashed.
    ``enabled = false`` opens the API to anyone who can reach it, with fire-brigade rights: only for a
    closed network (the gateway logs a warning at start-up).
    """

    enabled: bool = True
    #: A browser session (the ``firegw_session`` cookie) ends this long after signing in.
    session_ttl_s: float = Field(default=12 * 3600, gt=0)
    #: Default lifetime of an API token (``firegw tokens create --ttl-days`` overrides it per token).
    token_ttl_s: float = Field(default=90 * 86400, gt=0)
    #: Send the session cookie only over HTTPS: set it when the UI is served behind a TLS proxy.
    cookie_secure: bool = False
    #: Sign-in throttling (gateway/auth/throttle.py): this many failed sign-ins of one account name within
    #: ``failure_window_s`` lock the name for ``lock_s``; each further lock of it doubles, at most
    #: ``max_lock_s``.
    lock_after_failures: int = Field(default=5, ge=1, le=1000)
    #: Failed sign-ins from one client address within the window that lock the address for ``lock_s`` (not
    #: doubling). A control room's operators may share one address behind NAT: keep it well above the above.
    address_lock_after_failures: int = Field(default=20, ge=1, le=100_000)
    failure_window_s: float = Field(default=15 * 60, gt=0, le=86400)
    lock_s: float = Field(default=15 * 60, gt=0, le=86400)
    max_lock_s: float = Field(default=24 * 3600, gt=0, le=30 * 86400)

    @model_validator(mode="after")
    def _locks_grow(self) -> AuthSection:
        if self.max_lock_s < self.lock_s:
            raise ValueError(
                f"max_lock_s ({self.max_lock_s:g}) must not be shorter than lock_s ({self.lock_s:g})"
            )
        return self


class NotifySection(Section):
    """Messages to people (gateway/notify): alarms to the people on duty within 15 s of arrival (GB/T 45839),
    escalation when nobody acknowledges, hazards dispatched, overdue or due for re-check. Each address is an
    Apprise URL (``wecombot://KEY``, ``dingtalk://TOKEN``, ``feishu://TOKEN``, ``mailto://...``,
    ``json://host:port/path`` for a webhook); ``env:NAME`` keeps a token out of the file."""

    enabled: bool = True
    #: The people on duty in the control room: every new alarm.
    duty: list[str] = Field(default_factory=list)
    #: The next level up: an alarm still unacknowledged ``escalate_after_s`` after it arrived.
    escalate: list[str] = Field(default_factory=list)
    escalate_after_s: float = Field(default=60.0, gt=0)
    #: Hazard messages whose party has no channel of its own (or that went to no party).
    hazards: list[str] = Field(default_factory=list)
    #: Hazards escalated to a level (the engine's ``escalate`` with a ``level``, policy ``[escalation]``): its
    #: addresses, besides the channels of the parties of that kind serving the estate (community 社区, street
    #: 街道, district 区消安委, brigade 消防救援大队). Neither: ``hazards``.
    escalation_levels: dict[Literal["community", "street", "district", "brigade"], list[str]] = Field(
        default_factory=dict
    )
    #: Named in every alarm message (值班室电话).
    control_room_phone: str = ""
    #: Messages waiting; when full, the oldest hazard message is dropped (and counted), never an alarm.
    queue_size: int = Field(default=10_000, ge=10)
    #: Deliveries at once (each a blocking HTTP call in its own thread).
    workers: int = Field(default=8, ge=1, le=64)
    #: Tries per alarm message, and the pauses between them (s); the same for hazard messages.
    alarm_retry_s: list[float] = Field(default_factory=lambda: [1.0, 3.0])
    hazard_retry_s: list[float] = Field(default_factory=lambda: [10.0, 60.0, 300.0])
    #: Messages a channel takes per minute, by URL scheme: the service's own limit (WeCom group bots
    #: 20/min; DingTalk custom robots 20/min, and over it they refuse for 10 min; Feishu custom bots
    #: 100/min). A channel at its limit holds messages back (alarms first, waiting ones combined).
    rate_per_minute: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {"wecombot": 20, "dingtalk": 20, "feishu": 100}
    )
    #: The share of a limited channel's minute kept for alarms: hazard messages wait when only this is left.
    alarm_reserve: float = Field(default=0.25, ge=0.0, lt=1.0)
    #: At a start, messages still owed from before it (queued, or alarms raised and never pushed) are sent
    #: if they are younger than this, else recorded ``abandoned`` with the reason.
    resume_within_s: float = Field(default=86_400.0, gt=0)

    @model_validator(mode="after")
    def _known_channels(self) -> NotifySection:
        bad = []
        lists: dict[str, list[str]] = {key: getattr(self, key) for key in ("duty", "escalate", "hazards")}
        lists.update({f"escalation_levels.{k}": v for k, v in self.escalation_levels.items()})
        for key, urls in lists.items():
            if not urls:
                continue
            import apprise  # only when addresses are configured: its import takes ~0.3 s

            for i, url in enumerate(urls):
                if apprise.Apprise.instantiate(url) is None:
                    bad.append(f"{key}.{i}: not an Apprise URL Apprise can use: {url.split(':', 1)[0]}://...")
        if bad:
            raise ValueError("\n  ".join(bad))
        return self


class PhotosSection(Section):
    """Photos people upload: hazard steps (before, after rectification, re-check), filing, posted placards
    (gateway/uploads.py, docs/rules.md "Evidence"). Every default is far above what a phone user meets."""

    #: The largest photo accepted (413 above it): a phone photo is 2-8 MiB.
    max_bytes: int = Field(default=16 << 20, ge=1 << 10, le=256 << 20)
    #: The most pixels a photo may have: a 48-megapixel phone photo is 8000 x 6000. A small file that claims
    #: far more is a decompression bomb (Pillow's own refusal starts at 179 million).
    max_pixels: int = Field(default=64_000_000, ge=10_000, le=178_000_000)
    #: What one account may upload in any 24 hours, counted from the store (so it holds across restarts).
    daily_bytes: int = Field(default=200 << 20, gt=0)
    #: The most photos one hazard takes, the one given at filing included (photos are never deleted).
    per_hazard: int = Field(default=30, ge=1, le=1000)
    #: ``rectified`` needs an after-photo (整改后照片) added since rectification last started.
    rectified_needs_after_photo: bool = True


class LimitsSection(Section):
    """Bounds on what people send the HTTP API (docs/security.md, "Input bounds"); photos have their own
    (``[photos]``). Every text field of a request body has a length bound of its own (gateway/api/schemas.py).
    """

    #: The largest request body (413 above it). A JSON body is a few KiB; photo uploads may carry
    #: ``[photos] max_bytes`` (and a form around it) instead.
    body_bytes: int = Field(default=1 << 20, ge=16 << 10, le=64 << 20)
    #: What one account may record in any 24 hours (429 with Retry-After above it), counted from the store:
    #: hazards filed by hand, complaints, and evidence records (assessments, patrols, drills...). A grid
    #: worker's busiest patrol day is a few dozen; a script gone wrong is stopped here.
    hazards_per_day: int = Field(default=200, ge=1)
    complaints_per_day: int = Field(default=500, ge=1)
    evidence_per_day: int = Field(default=200, ge=1)


class HaSection(Section):
    """Active/standby gateways on one PostgreSQL hazard store (gateway/ha, README "Running more than one
    gateway"): of all gateways configured with the same ``partition``, exactly one is active (holds the
    partition's lease in PostgreSQL and runs the MQTT session, the Modbus poller and the rule engine); the
    others stand by and take over within ``ttl_s`` + ``heartbeat_s`` when it dies.

    Every gateway of a partition uses the same ``[mqtt] client_id`` (the standby takes over the persistent
    session) and its own ``[gateway] id`` (named in the lease and the logs).
    """

    enabled: bool = False
    #: The lease's name: gateways with the same partition stand in for each other. Several partitions (each
    #: with its own topic filters, registry and client id) run side by side, each with one active gateway.
    partition: str = Field(default="all", min_length=1, max_length=200)
    #: A lease not renewed for this long is free for a standby: the longest takeover after a crash is about
    #: ``ttl_s`` + ``heartbeat_s``. The active gateway stops being active ``heartbeat_s`` before its lease
    #: could expire when it cannot renew it (PostgreSQL unreachable), so two are never active at once.
    ttl_s: float = Field(default=5.0, gt=0)
    #: How often the active gateway renews the lease, and a standby tries to take it.
    heartbeat_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _renewals_fit(self) -> HaSection:
        if self.ttl_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"ttl_s ({self.ttl_s:g}) must be at least twice heartbeat_s ({self.heartbeat_s:g}): "
                "the active gateway stands down one heartbeat before its lease can expire"
            )
        return self


class GatewayConfig(Section):
    gateway: GatewaySection = GatewaySection()
    mqtt: MqttConfig = MqttConfig()
    modbus: ModbusSection = ModbusSection()
    storage: Storage = SqliteStorage(kind="sqlite")
    buffer: BufferSection = BufferSection()
    dead_letters: DeadLetterSection = DeadLetterSection()
    api: ApiSection = ApiSection()
    rules: RulesSection = RulesSection()
    auth: AuthSection = AuthSection()
    reports: ReportsSection = ReportsSection()
    ha: HaSection = HaSection()
    notify: NotifySection = NotifySection()
    photos: PhotosSection = PhotosSection()
    limits: LimitsSection = LimitsSection()
    ui: UiSection = UiSection()

    @model_validator(mode="after")
    def _known_decoders(self) -> GatewayConfig:
        known = decoder_names()
        bad = [
            f"mqtt.subscriptions.{i}.decoder: unknown decoder {s.decoder!r}; "
            f"known decoders: {', '.join(known)}"
            for i, s in enumerate(self.mqtt.subscriptions)
            if s.decoder not in known
        ]
        if bad:
            raise ValueError("\n  ".join(bad))
        return self

    @model_validator(mode="after")
    def _ha_needs_postgresql(self) -> GatewayConfig:
        if not self.ha.enabled:
            return self
        problems = []
        if not self.rules.store_url.startswith("postgresql"):
            store = self.rules.store_url or "empty: SQLite in gateway.data_dir"
            problems.append(
                "ha.enabled: active/standby gateways need [rules] store_url on PostgreSQL "
                f"(postgresql+psycopg://user:password@host/db), where the lease is kept; it is {store}"
            )
        if self.mqtt.clean_session:
            problems.append(
                "ha.enabled: needs mqtt.clean_session = false (a standby takes over the persistent session "
                "of mqtt.client_id, with what the broker kept for it)"
            )
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def hazard_store_url(self) -> str:
        """The hazard store (and account) database: ``[rules] store_url``, or SQLite in the data folder."""
        return self.rules.store_url or f"sqlite:///{self.gateway.data_dir / 'hazards.sqlite'}"

    def resolve_paths(self, base: Path) -> GatewayConfig:
        """Make relative paths relative to the config file's folder (not to wherever firegw was started)."""
        gw = self.gateway
        registry = gw.registry if gw.registry.is_absolute() else base / gw.registry
        data_dir = gw.data_dir if gw.data_dir.is_absolute() else base / gw.data_dir
        rules = self.rules
        if rules.policy is not None and not rules.policy.is_absolute():
            rules = rules.model_copy(update={"policy": base / rules.policy})
        reports = self.reports
        if reports.font and not Path(reports.font).is_absolute():
            reports = reports.model_copy(update={"font": str(base / reports.font)})
        mqtt = self.mqtt.model_copy(
            update={
                name: str(base / path)
                for name in ("ca_file", "cert_file", "key_file")
                if (path := getattr(self.mqtt, name)) is not None and not Path(path).is_absolute()
            }
        )
        ui = self.ui
        if ui.map is not None and not ui.map.is_absolute():
            ui = ui.model_copy(update={"map": base / ui.map})
        storage = self.storage
        if isinstance(storage, SqliteStorage) and not storage.path.is_absolute():
            storage = storage.model_copy(update={"path": data_dir / storage.path})
        return self.model_copy(
            update={
                "gateway": gw.model_copy(update={"registry": registry, "data_dir": data_dir}),
                "storage": storage,
                "rules": rules,
                "reports": reports,
                "ui": ui,
                "mqtt": mqtt,
            }
        )


def _expand_env(value: Any, where: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}" if where else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}.{i}", problems) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            problems.append(f"{where}: environment variable {name} is not set")
            return ""
        return os.environ[name]
    return value


def parse_config(
    data: dict[str, Any], *, source: str = "<config>", base: Path | None = None
) -> GatewayConfig:
    problems: list[str] = []
    data = _expand_env(data, "", problems)
    if problems:
        raise ConfigError(source, problems)
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling against examples/gateway.toml)"
            problems.append(f"{where}: {msg}" if where else msg)
        raise ConfigError(source, problems) from exc
    config = config.resolve_paths(base or Path.cwd())
    try:
        config.mqtt.tls_context()  # the CA, the gateway's certificate and key: usable, or said now
    except ValueError as exc:
        raise ConfigError(source, [str(exc)]) from None
    return config


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), ["file not found; start from examples/gateway.toml"])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot be read ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    return parse_config(data, source=str(path), base=path.resolve().parent)
