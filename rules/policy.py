"""The grading policy: a versioned data file, not code.

A policy says which colours exist and how one is decided (``grade_rules``), the criteria catalogue in Chinese
and English, which device signals feed which criteria, how many failed devices of a kind an estate tolerates,
what counted records (complaints, fires) in a rolling window make an item, rectification deadlines per colour,
and threshold defaults per device kind. ``rules/policies/default.toml`` is annex 3 of the municipal standard
(seed 000); ``rules/policies/four_colour.toml`` shows that a jurisdiction grading 绿灰黄红 is a file, not a
fork.

Everything is checked at load time and every problem is reported at once with the key it concerns: a criterion
referenced by a signal but missing from the catalogue, an unknown colour, a threshold key that does not exist.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from gateway.models import DeviceKind, MeasuringPoint
from rules.lifecycle import ESCALATION_LEVELS, EscalationLevel
from rules.model import SignalKind
from rules.thresholds import ThresholdError, Thresholds, resolve_thresholds

#: Colours the engine adds to every policy: devices all silent, and never assessed (or assessment expired).
UNKNOWN = "unknown"
NOT_ASSESSED = "not_assessed"
CRITERION_CODE = re.compile(r"^[A-Z][0-9]{1,2}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(value: object) -> timedelta:
    """``"30d"``, ``"24h"``, ``"90m"``, ``"45s"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    raise ValueError(f"expected a duration such as '30d', '24h', '90m' or seconds, got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Category = Literal["red", "yellow", "green"]


class PolicyError(ValueError):
    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: invalid policy:\n  " + "\n  ".join(problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Model):
    zh: str
    en: str


class Colour(_Model):
    id: str = Field(pattern=r"^[a-z][a-z_]*$")
    zh: str
    en: str
    meaning: Text


class GradeRule(_Model):
    colour: str
    #: ``missing_green``: distinct green conditions contradicted by a fact (a yellow item that states their
    #: opposite, see ``contradicts``) or found not to hold by an assessment.
    count: Literal["red_items", "yellow_items", "missing_green"]
    at_least: int = Field(ge=1)
    #: What the rule says, as shown to users with the grade (the standard's own words where it has them).
    why: Text


class Criterion(_Model):
    zh: str
    en: str
    #: Red and yellow items count toward their colour; a green criterion is a condition that must hold,
    #: so a hazard filed against it means "missing". Defaults to the code's letter (R, Y, G).
    category: Category | None = None


class Deadlines(_Model):
    red: Duration = timedelta(hours=24)
    yellow: Duration = timedelta(days=30)
    green: Duration = timedelta(days=30)
    #: A maintenance task (a monitoring fault: sensor offline, low battery) for whoever maintains the devices.
    maintenance: Duration = timedelta(hours=72)
    recheck_after: Duration = timedelta(days=30)
    escalate_every: Duration = timedelta(days=7)

    def for_category(self, category: Category) -> timedelta:
        return {"red": self.red, "yellow": self.yellow, "green": self.green}[category]


class Escalation(_Model):
    """督办升级: who an item goes to, one level further up at each escalation (the street office, then the
    district, then the fire brigade). An overdue item escalates when its deadline passes and again every
    ``deadlines.escalate_every``; a red item (immediate measures) escalates the moment it is reported when
    ``red_at_once``, and again every ``red_every`` while nobody has fixed it."""

    levels: tuple[EscalationLevel, ...] = Field(default=ESCALATION_LEVELS, min_length=1)
    red_at_once: bool = True
    red_every: Duration = timedelta(hours=24)
    source: Text | None = None


class Counted(_Model):
    source: Literal["complaints", "fires", "fatal_fires"]
    #: A rolling window, or none: the item holds until the estate's next assessment (R7 in the seed has no
    #: window).
    window: Duration | None = None
    at_least: int = Field(ge=1)
    criterion: str
    #: The reason shown to users; ``{n}`` is the count, ``{days}`` the window in days.
    text: Text


#: The records that can evidence a green condition (domain.md, "Green conditions carry evidence and expire").
EVIDENCE_KINDS = ("assessment", "patrol", "drill", "maintenance_report", "duty_roster")
EvidenceKind = Literal["assessment", "patrol", "drill", "maintenance_report", "duty_roster"]


class Condition(_Model):
    """How a green condition is evidenced: which records may show it holds, and for how long one does."""

    valid_for: Duration
    #: The kinds of record that may evidence it; an assessment evidences every condition.
    evidence: list[EvidenceKind] = Field(default_factory=lambda: list[EvidenceKind](["assessment"]))
    #: Where the validity comes from (a clause, or "project default" and why).
    source: Text

    def accepts(self, kind: str) -> bool:
        return kind == "assessment" or kind in self.evidence


class Assessment(_Model):
    """The street office's inspection and registration (排查登记): an estate is graded only after one."""

    valid_for: Duration = timedelta(days=365)
    source: Text = Text(
        zh="项目默认：每年排查登记一次", en="project default: inspected and registered yearly"
    )


class Maintenance(_Model):
    """Maintenance and test windows (屏蔽 with a time limit)."""

    max_window: Duration = timedelta(hours=24)
    max_ahead: Duration = timedelta(days=30)
    source: Text = Text(
        zh="项目默认：屏蔽最长 24 小时，最多提前 30 天登记",
        en="project default: at most 24 h, declared ≤ 30 d ahead",
    )


class Tolerance(_Model):
    #: Failed devices of the kind an estate tolerates before their criteria count (hydrants: 0).
    max_failed: int | None = Field(default=None, ge=0)
    #: ...or the share of healthy devices below which they count (smoke detectors: 0.95).
    min_healthy_share: float | None = Field(default=None, ge=0, le=1)

    def exceeded(self, failed: int, total: int) -> bool:
        if failed <= 0:
            return False
        if self.min_healthy_share is not None and total > 0:
            return (total - failed) / total < self.min_healthy_share
        return failed > (self.max_failed or 0)


def _t(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


class Texts(_Model):
    """The sentences grading generates, in both languages; a policy file may reword any of them
    (``[texts]``). Placeholders in braces are filled in by ``rules/grading.py``."""

    since: Text = _t("{detail}（自 {since} 起）", "{detail} since {since}")
    not_assessed: Text = _t(
        "未经街道排查登记，暂不评定颜色",
        "not yet inspected and registered by the street office: no colour yet",
    )
    assessment_expired: Text = _t(
        "排查登记已过期（{at} 登记，有效至 {until}）",
        "assessment expired (registered {at}, valid until {until})",
    )
    condition_missing: Text = _t("{code} {name}：无有效证明", "{code} {name}: no evidence on record")
    condition_due: Text = _t(
        "{code} {name}：{kind}已到期（{at}，有效至 {until}）",
        "{code} {name}: {kind} expired ({at}, valid until {until})",
    )
    condition_not_met: Text = _t(
        "{code} {name}：{at} 排查登记认定不满足", "{code} {name}: found not to hold at the assessment of {at}"
    )
    stale: Text = _t(
        "全部设备失联（最后上报 {last}），设备数据无法确认风险",
        "every device is silent (last heard {last}): devices cannot confirm the risk",
    )
    out_of_use: Text = _t("停租停用（由街道设置）", "out of use (set by the office)")
    tolerated: Text = _t(
        "{kind} {failed}/{total} 台故障，在容许范围内（{share}）",
        "{failed} of {total} {kind}s failing, within tolerance ({share})",
    )
    why_not_assessed: Text = _t(
        "未评定：无有效排查登记，或绿色条件证明到期",
        "not assessed: no current assessment, or a green condition's evidence expired",
    )
    why_unknown: Text = _t(
        "未知：设备全部失联，且无人员上报的红黄项",
        "unknown: every device is silent and no red or yellow item was reported",
    )
    why_out_of_use: Text = _t("停租停用", "out of use")
    why_default: Text = _t(
        "绿色条件全部满足且有有效证明", "every green condition holds, with current evidence"
    )
    maintenance_task: Text = _t(
        "维护任务：监测设备故障（设施状态未知，不计入判定标准）",
        "maintenance task: monitoring gear failed (facility state unknown; not an item of the standard)",
    )
    assessment: Text = _t("排查登记", "assessment")
    patrol: Text = _t("巡查记录", "patrol record")
    drill: Text = _t("演练记录", "drill record")
    maintenance_report: Text = _t("维保检测报告", "maintenance/testing report")
    duty_roster: Text = _t("值班记录", "duty roster")

    def evidence_kind(self, kind: str) -> Text:
        value = getattr(self, kind, None)
        return value if isinstance(value, Text) else Text(zh=kind, en=kind)


class Policy(_Model):
    id: str
    #: The language of generated texts (device hazard descriptions, reasons): the users' own.
    language: Literal["zh", "en"] = "zh"
    version: str
    name: Text
    timezone: str = "Asia/Shanghai"
    colours: list[Colour] = Field(min_length=2)
    default: str
    grade_rules: list[GradeRule] = Field(min_length=1)
    deadlines: Deadlines = Deadlines()
    escalation: Escalation = Escalation()
    counted: list[Counted] = Field(default_factory=list)
    #: Per device kind, the criteria each device signal is an item of (facility faults, camera findings).
    #: A signal mapped to ``[]`` is recorded and shown but grades nothing (an e-bike taken into a lift).
    signals: dict[DeviceKind, dict[SignalKind, list[str]]] = Field(default_factory=dict)
    #: Per device kind, the signals that are monitoring faults: the monitoring gear failed, the facility's
    #: state is unknown. They open a maintenance task and lower the coverage; they are not items.
    monitoring: dict[DeviceKind, list[SignalKind]] = Field(default_factory=dict)
    #: Which green conditions each item states the opposite of, whatever its source (Y1 -> G5).
    contradicts: dict[str, list[str]] = Field(default_factory=dict)
    #: The green conditions' evidence and validity, keyed by code.
    conditions: dict[str, Condition] = Field(default_factory=dict)
    assessment: Assessment = Assessment()
    maintenance: Maintenance = Maintenance()
    #: The colour of an estate the office set out of use (the four-colour policy's grey); None: no such state.
    out_of_use_colour: str | None = None
    tolerance: dict[DeviceKind, Tolerance] = Field(default_factory=dict)
    thresholds: dict[DeviceKind, dict[str, float]] = Field(default_factory=dict)
    criteria: dict[str, Criterion]
    texts: Texts = Texts()

    def say(self, text: Text, **values: object) -> str:
        """A policy text in the policy's language, filled in."""
        return (text.zh if self.language == "zh" else text.en).format(**values)

    def say_en(self, text: Text, **values: object) -> str:
        return text.en.format(**values)

    # -- lookups ---------------------------------------------------------------------------------------

    @cached_property
    def colour_ids(self) -> list[str]:
        return [c.id for c in self.colours]

    def level(self, colour: str) -> int:
        """0 for the least severe colour upwards; -1 for unknown, -2 for not assessed."""
        if colour == UNKNOWN:
            return -1
        if colour == NOT_ASSESSED:
            return -2
        return self.colour_ids.index(colour)

    def colour(self, colour: str) -> Colour | None:
        return next((c for c in self.colours if c.id == colour), None)

    @cached_property
    def _categories(self) -> dict[str, Category]:
        out: dict[str, Category] = {}
        for code, criterion in self.criteria.items():
            if criterion.category is not None:
                out[code] = criterion.category
            else:
                out[code] = {"R": "red", "Y": "yellow"}.get(code[0], "green")  # type: ignore[assignment]
        return out

    def category(self, code: str) -> Category:
        """red / yellow / green: from the criterion, else from its code's letter (KeyError if unknown)."""
        return self._categories[code]

    def criteria_for(self, kind: DeviceKind, signal: SignalKind) -> list[str]:
        """The criteria a device signal is an item of ([] for a monitoring fault or an ungraded event)."""
        return self.signals.get(kind, {}).get(signal, [])

    def is_monitoring_fault(self, kind: DeviceKind, signal: SignalKind) -> bool:
        return signal in self.monitoring.get(kind, ())

    @cached_property
    def _green_conditions(self) -> tuple[str, ...]:
        return tuple(code for code in self.criteria if self.category(code) == "green")

    def green_conditions(self) -> tuple[str, ...]:
        """The green conditions, in the standard's order."""
        return self._green_conditions

    def tolerance_for(self, kind: DeviceKind) -> Tolerance:
        return self.tolerance.get(kind, Tolerance(max_failed=0))

    def deadline_for(self, code: str) -> timedelta:
        return self.deadlines.for_category(self.category(code))

    def thresholds_for(
        self,
        kind: DeviceKind,
        device: dict[str, float],
        where: str,
        point: MeasuringPoint = MeasuringPoint.UNKNOWN,
        reading: Literal["static", "flowing"] = "static",
    ) -> Thresholds:
        """A device's thresholds: its kind's and (hydrants) its measuring point's defaults, this policy's
        table for the kind, then the device's own (rules/thresholds.py)."""
        return resolve_thresholds(
            kind, self.thresholds.get(kind), device, where=where, point=point, reading=reading
        )

    def check_code(self, code: str) -> str:
        """The code if the catalogue has it, else a ValueError that lists what it has."""
        if code not in self.criteria:
            known = ", ".join(self.criteria)
            raise ValueError(f"unknown criterion {code!r}; this policy ({self.id}) has {known}")
        return code

    # -- validation ------------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Cross-references that a field-by-field parse cannot check."""
        out: list[str] = []
        colours = self.colour_ids
        if self.default not in colours:
            out.append(f"default: {self.default!r} is not one of the colours {colours}")
        for i, rule in enumerate(self.grade_rules):
            if rule.colour not in colours:
                out.append(f"grade_rules.{i}.colour: {rule.colour!r} is not one of the colours {colours}")
        # The first matching rule wins, so rules must go from the most severe colour down: otherwise one more
        # hazard could match an earlier, milder rule and improve the grade.
        levels = [colours.index(r.colour) for r in self.grade_rules if r.colour in colours]
        for i in range(1, len(levels)):
            if levels[i] > levels[i - 1]:
                out.append(
                    f"grade_rules.{i}: {self.grade_rules[i].colour!r} comes after the milder "
                    f"{self.grade_rules[i - 1].colour!r}; list the rules from the most severe colour down"
                )
        for code in self.criteria:
            if not CRITERION_CODE.match(code):
                out.append(f"criteria.{code}: codes are a capital letter and a number, e.g. Y10")
        for kind, table in self.signals.items():
            for signal, codes in table.items():
                for code in codes:
                    if code not in self.criteria:
                        out.append(f"signals.{kind.value}.{signal.value}: unknown criterion {code!r}")
                if signal in self.monitoring.get(kind, ()):
                    out.append(
                        f"signals.{kind.value}.{signal.value}: also a monitoring fault; a signal is either "
                        "an item of criteria or a monitoring fault"
                    )
        for code, conditions in self.contradicts.items():
            if code not in self.criteria:
                out.append(f"contradicts.{code}: unknown criterion")
            for condition in conditions:
                if condition not in self.criteria or self.category(condition) != "green":
                    out.append(f"contradicts.{code}: {condition!r} is not a green condition of this policy")
        greens = [c for c in self.criteria if CRITERION_CODE.match(c) and self.category(c) == "green"]
        for code in self.conditions:
            if code not in greens:
                out.append(f"conditions.{code}: not a green condition of this policy ({', '.join(greens)})")
        for code in greens:
            if code not in self.conditions:
                out.append(f"conditions.{code}: missing (how is it evidenced, and for how long?)")
        if self.out_of_use_colour is not None and self.out_of_use_colour not in colours:
            out.append(f"out_of_use_colour: {self.out_of_use_colour!r} is not one of the colours {colours}")
        for i, counted in enumerate(self.counted):
            if counted.criterion not in self.criteria:
                out.append(f"counted.{i}.criterion: unknown criterion {counted.criterion!r}")
        for kind, limits in self.thresholds.items():
            try:
                resolve_thresholds(kind, limits, None)
            except ThresholdError as exc:
                out.append(f"thresholds.{kind.value}: {exc}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception:  # zoneinfo raises several types for a bad key
            out.append(f"timezone: unknown time zone {self.timezone!r}")
        return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays and values in ``override`` replace the base's."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


#: Tables whose entries nothing else refers to: one bad entry can be dropped to check the rest.
_PRUNABLE_TABLES = (
    "signals",
    "thresholds",
    "tolerance",
    "deadlines",
    "conditions",
    "monitoring",
    "contradicts",
)


def _reference_problems(data: dict[str, Any], exc: ValidationError) -> list[str]:
    """The cross-reference problems of a document that failed field validation, so that every problem is
    reported at once: drop each failing table entry (or optional top-level key), let its default apply and
    check what is left. Nothing when a required field failed (the rest cannot be checked against it)."""
    pruned = dict(data)
    for error in exc.errors():
        loc = error["loc"]
        top = str(loc[0]) if loc else ""
        value = pruned.get(top)
        field = Policy.model_fields.get(top)
        if top in _PRUNABLE_TABLES and len(loc) > 1 and isinstance(value, dict):
            pruned[top] = _without(value, [str(k) for k in loc[1:]])
        elif top in pruned and (field is None or not field.is_required()):
            del pruned[top]
        else:
            return []
    try:
        return Policy.model_validate(pruned).problems()
    except ValidationError:
        return []


def _without(table: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """``table`` without the entry at the deepest key of ``path`` that it has (a bad signal of one device
    kind drops that signal, not the kind's whole table)."""
    key = path[0]
    value = table.get(key)
    if len(path) > 1 and isinstance(value, dict) and path[1] in value:
        return {**table, key: _without(value, path[1:])}
    return {k: v for k, v in table.items() if k != key}


def _builtin_data(name: str) -> dict[str, Any]:
    try:
        text = resources.files("rules.policies").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"no built-in policy {name!r}") from None
    return tomllib.loads(text)


def parse_policy(data: dict[str, Any], *, source: str = "<policy>") -> Policy:
    """Validate a policy document; ``extends = "default"`` starts from a built-in policy."""
    base = data.get("extends")
    if base is not None:
        try:
            parent = _builtin_data(str(base))
        except ValueError as exc:
            raise PolicyError(source, [f"extends: {exc}"]) from None
        parent.pop("extends", None)
        data = _merge(parent, {k: v for k, v in data.items() if k != "extends"})
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise PolicyError(source, problems + _reference_problems(data, exc)) from None
    problems = policy.problems()
    if problems:
        raise PolicyError(source, problems)
    return policy


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file; ``None`` loads the default (annex 3 of the municipal standard)."""
    if path is None:
        text = resources.files("rules.policies").joinpath("default.toml").read_text(encoding="utf-8")
        source = "rules/policies/default.toml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(source, [f"cannot read: {exc.strerror}"]) from exc
        except UnicodeDecodeError as exc:
            raise PolicyError(source, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [f"not valid TOML: {exc}"]) from exc
    return parse_policy(data, source=source)


def builtin_policy(name: str) -> Policy:
    """A policy shipped with the package by file stem (``default``, ``four_colour``)."""
    return parse_policy(_builtin_data(name), source=f"rules/policies/{name}.toml")
