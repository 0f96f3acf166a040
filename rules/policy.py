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

from gateway.models import DeviceKind
from rules.model import SignalKind
from rules.thresholds import ThresholdError, Thresholds, resolve_thresholds

UNKNOWN = "unknown"
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
    count: Literal["red_items", "yellow_items", "missing_green"]
    at_least: int = Field(ge=1)
    why: str = ""


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
    recheck_after: Duration = timedelta(days=30)
    escalate_every: Duration = timedelta(days=7)

    def for_category(self, category: Category) -> timedelta:
        return {"red": self.red, "yellow": self.yellow, "green": self.green}[category]


class Counted(_Model):
    source: Literal["complaints", "fires", "fatal_fires"]
    window: Duration
    at_least: int = Field(ge=1)
    criterion: str


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
    counted: list[Counted] = Field(default_factory=list)
    signals: dict[SignalKind, list[str]] = Field(default_factory=dict)
    tolerance: dict[DeviceKind, Tolerance] = Field(default_factory=dict)
    thresholds: dict[DeviceKind, dict[str, float]] = Field(default_factory=dict)
    criteria: dict[str, Criterion]

    # -- lookups ---------------------------------------------------------------------------------------

    @cached_property
    def colour_ids(self) -> list[str]:
        return [c.id for c in self.colours]

    def level(self, colour: str) -> int:
        """0 for the least severe colour upwards; -1 for unknown."""
        return -1 if colour == UNKNOWN else self.colour_ids.index(colour)

    def colour(self, colour: str) -> Colour | None:
        return next((c for c in self.colours if c.id == colour), None)

    def category(self, code: str) -> Category:
        criterion = self.criteria[code]
        if criterion.category is not None:
            return criterion.category
        return {"R": "red", "Y": "yellow"}.get(code[0], "green")  # type: ignore[return-value]

    def criteria_for(self, signal: SignalKind) -> list[str]:
        return self.signals.get(signal, [])

    def tolerance_for(self, kind: DeviceKind) -> Tolerance:
        return self.tolerance.get(kind, Tolerance(max_failed=0))

    def deadline_for(self, code: str) -> timedelta:
        return self.deadlines.for_category(self.category(code))

    def thresholds_for(self, kind: DeviceKind, device: dict[str, float], where: str) -> Thresholds:
        return resolve_thresholds(kind, self.thresholds.get(kind), device, where=where)

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
        for signal, codes in self.signals.items():
            for code in codes:
                if code not in self.criteria:
                    out.append(f"signals.{signal.value}: unknown criterion {code!r}")
        for i, counted in enumerate(self.counted):
            if counted.criterion not in self.criteria:
                out.append(f"counted.{i}.criterion: unknown criterion {counted.criterion!r}")
        for kind, table in self.thresholds.items():
            try:
                resolve_thresholds(kind, table, None)
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
_PRUNABLE_TABLES = ("signals", "thresholds", "tolerance", "deadlines")


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
            pruned[top] = {k: v for k, v in value.items() if k != loc[1]}
        elif top in pruned and (field is None or not field.is_required()):
            del pruned[top]
        else:
            return []
    try:
        return Policy.model_validate(pruned).problems()
    except ValidationError:
        return []


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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [f"not valid TOML: {exc}"]) from exc
    return parse_policy(data, source=source)


def builtin_policy(name: str) -> Policy:
    """A policy shipped with the package by file stem (``default``, ``four_colour``)."""
    return parse_policy(_builtin_data(name), source=f"rules/policies/{name}.toml")
