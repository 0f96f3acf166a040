"""An estate's colour from its open hazards, counted records and device health. Pure: data and ``now`` in.

The steps, each decided by the policy:

1. Items. A manual hazard is an item of its criterion. A device hazard is an item of every criterion its
   signal feeds (a hydrant at 0.02 MPa: Y10, G4, G6), but only once the failed devices of that kind exceed
   the kind's tolerance (hydrants: none; smoke detectors: while 95 % are healthy, G4 holds). Counted records
   (complaints, confirmed fires, fatal fires) in a rolling window make items too (R6, Y14, Y15, R7).
2. Counts of *distinct* criteria per category: red items, yellow items, green conditions missing. Three
   failed hydrants are one Y10 item, not three.
3. The first grade rule whose count is reached gives the colour (red: one red item; yellow: three yellow
   items; yellow: a missing green condition), else the policy's default.
4. Freshness: an estate whose devices are all silent has a grade only as good as its inputs, so it is
   ``unknown`` unless a red item (reported by people, so still known) makes it red. Never green by default.

Because every step only adds items and every rule is "count at least N", adding a hazard can never improve
a grade; ``tests/test_rules_grading.py`` checks that as a property.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.models import DeviceKind
from rules.policy import UNKNOWN, Policy


@dataclass(frozen=True, slots=True)
class OpenHazard:
    """What grading needs to know about one open hazard."""

    hazard_id: str
    criteria: tuple[str, ...]
    detail: str
    since: datetime
    source: str = "manual"  # device / manual / complaint
    device_id: str = ""
    device_kind: DeviceKind | None = None


@dataclass(frozen=True, slots=True)
class GradeInputs:
    estate_id: str
    hazards: Sequence[OpenHazard] = ()
    #: Registry device count per kind (for tolerance shares).
    devices: dict[DeviceKind, int] = field(default_factory=dict)
    complaints: Sequence[datetime] = ()
    #: Confirmed fires: (when, fatal or high impact).
    fires: Sequence[tuple[datetime, bool]] = ()
    #: True when the estate has devices and every one of them is past its reporting window.
    stale: bool = False
    #: When anything was last heard from the estate's devices (for "as of").
    last_heard: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    codes: tuple[str, ...]
    text: str
    hazard_ids: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{', '.join(self.codes)}: {self.text}"


@dataclass(frozen=True, slots=True)
class Grade:
    estate_id: str
    colour: str
    level: int
    reasons: tuple[Reason, ...]
    red_items: tuple[str, ...]
    yellow_items: tuple[str, ...]
    missing_green: tuple[str, ...]
    open_hazards: int
    #: Device failures that did not count because the kind's tolerance was not exceeded.
    tolerated: tuple[str, ...]
    stale: bool
    decided_at: datetime
    last_heard: datetime | None
    #: Which grade rule decided (its ``why``), or "default".
    rule: str
    policy: str

    @property
    def summary(self) -> str:
        """``"yellow — Y10, G4, G6: hydrant HY-E001-03 ... since 10:41"`` in one line."""
        if not self.reasons:
            return self.colour
        return f"{self.colour} — " + "; ".join(str(r) for r in self.reasons)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, ...], ...]]:
        """What a stored grade change compares: the colour and which items hold it there."""
        return self.colour, tuple(sorted(r.codes + r.hazard_ids for r in self.reasons))


def local_time(moment: datetime, policy: Policy) -> str:
    return moment.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d %H:%M")


def grade_estate(inputs: GradeInputs, policy: Policy, now: datetime) -> Grade:
    zh = policy.language == "zh"
    items: dict[str, list[str]] = defaultdict(list)  # criterion -> hazard ids holding it
    reasons: list[Reason] = []
    tolerated: list[str] = []

    failing: dict[DeviceKind, set[str]] = defaultdict(set)
    for hazard in inputs.hazards:
        if hazard.source == "device" and hazard.device_kind is not None:
            failing[hazard.device_kind].add(hazard.device_id)
    kind_counts = {
        kind: policy.tolerance_for(kind).exceeded(len(devices), inputs.devices.get(kind, len(devices)))
        for kind, devices in failing.items()
    }
    for kind, exceeded in kind_counts.items():
        if not exceeded:
            total = inputs.devices.get(kind, 0)
            tolerated.append(f"{len(failing[kind])} of {total} {kind.value} failing, within tolerance")

    for hazard in inputs.hazards:
        if (
            hazard.source == "device"
            and hazard.device_kind is not None
            and not kind_counts[hazard.device_kind]
        ):
            continue
        codes = tuple(c for c in hazard.criteria if c in policy.criteria)
        if not codes:
            continue
        for code in codes:
            items[code].append(hazard.hazard_id)
        since = local_time(hazard.since, policy)
        text = f"{hazard.detail}（自 {since} 起）" if zh else f"{hazard.detail} since {since}"
        reasons.append(Reason(codes, text, (hazard.hazard_id,)))

    for counted in policy.counted:
        start = now - counted.window
        if counted.source == "complaints":
            n = sum(1 for t in inputs.complaints if start <= t <= now)
            noun, zh_text = "complaint", "火灾隐患投诉 {n} 次"
        elif counted.source == "fires":
            n = sum(1 for t, _ in inputs.fires if start <= t <= now)
            noun, zh_text = "confirmed fire", "发生火灾 {n} 起"
        else:
            n = sum(1 for t, fatal in inputs.fires if fatal and start <= t <= now)
            noun, zh_text = "fatal or high-impact fire", "发生亡人或有较大影响火灾 {n} 起"
        if n >= counted.at_least:
            items[counted.criterion].append("")
            days = counted.window.days
            if zh:
                text = f"{days} 天内" + zh_text.format(n=n)
            else:
                text = f"{n} {noun}{'s' if n != 1 else ''} in {days} days"
            reasons.append(Reason((counted.criterion,), text))

    red = tuple(sorted(c for c in items if policy.category(c) == "red"))
    yellow = tuple(sorted(c for c in items if policy.category(c) == "yellow"))
    green = tuple(sorted(c for c in items if policy.category(c) == "green"))
    counts = {"red_items": len(red), "yellow_items": len(yellow), "missing_green": len(green)}

    colour, rule_why = policy.default, "default"
    for rule in policy.grade_rules:
        if counts[rule.count] >= rule.at_least:
            colour, rule_why = rule.colour, rule.why or f"{rule.count} >= {rule.at_least}"
            break
    if inputs.stale and not red:
        colour, rule_why = UNKNOWN, "every device of the estate is silent: the grade cannot be known"

    return Grade(
        estate_id=inputs.estate_id,
        colour=colour,
        level=policy.level(colour),
        reasons=tuple(sorted(reasons, key=lambda r: (_code_order(r.codes[0]), r.text))),
        red_items=red,
        yellow_items=yellow,
        missing_green=green,
        open_hazards=len(inputs.hazards),
        tolerated=tuple(tolerated),
        stale=inputs.stale,
        decided_at=now,
        last_heard=inputs.last_heard,
        rule=rule_why,
        policy=f"{policy.id}@{policy.version}",
    )


def _code_order(code: str) -> tuple[int, int]:
    """R before Y before G, then by number: the order people read the standard in."""
    letter = {"R": 0, "Y": 1, "G": 2}.get(code[:1], 3)
    return letter, int(code[1:]) if code[1:].isdigit() else 0
