"""An estate's colour from its open hazards, counted records, evidence and device health. Pure: data and
``now`` in. The reference is domain.md, "How a grade is earned"; every text comes from the policy.

The steps:

1. Items. A hazard is an item of its criteria, whatever its source. A device hazard counts only once the
   failed devices of its kind exceed the kind's tolerance (hydrants: none; smoke detectors: while 95 % are
   healthy, none count). Counted records (distinct complaints, confirmed fires, fatal fires) make items too
   (R6, Y14, Y15, R7). Monitoring faults (a sensor offline, a low battery) are not items: they lower the
   coverage shown beside the grade.
2. Green conditions. Each holds from its latest evidence (an assessment, a patrol, a drill, a maintenance
   report, a duty roster) until the policy's validity runs out, then it is *due*; an assessment can also
   find it *not met*. An item *contradicts* the conditions the policy links to it (Y1/Y7 → G5, Y10 → G4/G6,
   Y13 → G1), from any source.
3. Counts of distinct criteria: red items, yellow items, green conditions missing (contradicted or not
   met). The first grade rule whose count is reached gives the colour, and the items it counted are the
   *decisive* reasons, listed first.
4. Floors, only where no rule matched (nothing red or yellow is known): out of use (the four-colour grey);
   ``not_assessed`` without a current assessment or with a condition due; ``unknown`` when every device is
   silent. Never green by default: green is earned by evidence. Stale device data never hides a red or
   yellow item people reported; what the silence itself says (every detector "offline") is not an item.

Adding a hazard can never improve a grade (every rule is "count at least N" and the floors apply only where
no rule matched); ``tests/test_rules_grading.py`` checks that as a property.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from gateway.models import DeviceKind
from rules.policy import NOT_ASSESSED, UNKNOWN, Policy, Text
from rules.texts import KIND_NAMES


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
    signal: str = ""
    #: Where it is (building, floor, room): what a tile names beside the signal.
    place: str = ""
    #: ``detail`` in English when it is in another language (a device hazard's generated description).
    detail_en: str = ""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record that shows green conditions hold (or, for an assessment, that some do not)."""

    record_id: int
    kind: str  # assessment / patrol / drill / maintenance_report / duty_roster
    at: datetime
    by: str
    met: tuple[str, ...] = ()
    not_met: tuple[str, ...] = ()


class ConditionState(NamedTuple):
    """Where one green condition stands: ``holds``, ``due`` (evidence expired), ``missing`` (never
    evidenced), ``not_met`` (an assessment found it does not hold) or ``contradicted`` (by an item).

    A named tuple, not a frozen dataclass: eight per estate on every re-grade of a city, and a tuple is
    built several times faster."""

    code: str
    state: str
    evidence_kind: str = ""
    record_id: int | None = None
    at: datetime | None = None
    by: str = ""
    valid_until: datetime | None = None
    contradicted_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GradeInputs:
    estate_id: str
    hazards: Sequence[OpenHazard] = ()
    #: Registry device count per kind (for tolerance shares).
    devices: dict[DeviceKind, int] = field(default_factory=dict)
    #: Distinct complaint incidents (voided ones and those merged into another left out by the caller).
    complaints: Sequence[datetime] = ()
    #: Confirmed fires: (when, fatal or high impact).
    fires: Sequence[tuple[datetime, bool]] = ()
    #: True when the estate has devices and every one of them is past its reporting window.
    stale: bool = False
    #: When anything was last heard from the estate's devices (for "as of").
    last_heard: datetime | None = None
    evidence: Sequence[Evidence] = ()
    #: Set by the office (the four-colour policy's grey).
    out_of_use: bool = False
    #: Devices that report (monitored), and how many of them have a monitoring fault now.
    monitored: int = 0
    monitoring_faults: int = 0


@dataclass(frozen=True, slots=True)
class Reason:
    codes: tuple[str, ...]
    text: str
    hazard_ids: tuple[str, ...] = ()
    #: True for the items that decided the colour (listed first).
    decisive: bool = False
    #: The physical problem behind a hazard's reason, for a one-line "what · where" (a tile): the device and
    #: its signal, or the hazard's own words (``detail``), and where it is.
    device: str = ""
    device_kind: DeviceKind | None = None
    signal: str = ""
    detail: str = ""
    place: str = ""
    #: ``text`` in English, for the UI's English toggle ("" when the same).
    text_en: str = ""

    def __str__(self) -> str:
        return f"{', '.join(self.codes)}: {self.text}" if self.codes else self.text


@dataclass(slots=True, eq=True)
class Grade:
    """An estate's grade. Treated as immutable; not a frozen dataclass only because a frozen one of this many
    fields costs several microseconds more to build, 2,000 times per re-grade of a city."""

    estate_id: str
    colour: str
    level: int
    reasons: tuple[Reason, ...]
    red_items: tuple[str, ...]
    yellow_items: tuple[str, ...]
    #: Green conditions contradicted by an item or found not met.
    missing_green: tuple[str, ...]
    open_hazards: int
    #: Device failures that did not count because the kind's tolerance was not exceeded.
    tolerated: tuple[str, ...]
    stale: bool
    decided_at: datetime
    last_heard: datetime | None
    #: What decided, in the policy's language (the grade rule's ``why``, or a floor's text), and in English.
    rule: str
    policy: str
    rule_en: str = ""
    conditions: tuple[ConditionState, ...] = ()
    assessed_at: datetime | None = None
    #: When the current assessment runs out (None: never assessed).
    assessment_valid_until: datetime | None = None
    #: Share of the estate's monitored devices without a monitoring fault (None: nothing monitored).
    coverage: float | None = None
    monitoring_faults: int = 0
    out_of_use: bool = False
    #: ``tolerated`` in English.
    tolerated_en: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """``"yellow — Y10, G4, G6: hydrant HY-E001-03 ... since 10:41"`` in one line."""
        if not self.reasons:
            return self.colour
        return f"{self.colour} — " + "; ".join(str(r) for r in self.reasons)

    @property
    def decisive(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.decisive)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, ...], ...]]:
        """What a stored grade change compares: the colour and which items hold it there."""
        return self.colour, tuple(sorted(r.codes + r.hazard_ids for r in self.reasons))


def local_time(moment: datetime, policy: Policy) -> str:
    return moment.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d %H:%M")


def local_date(moment: datetime, policy: Policy) -> str:
    return moment.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d")


def grade_estate(inputs: GradeInputs, policy: Policy, now: datetime) -> Grade:
    items: dict[str, list[str]] = defaultdict(list)  # criterion -> hazard ids holding it ("" for counts)
    reasons: list[Reason] = []
    contradicted: dict[str, list[str]] = defaultdict(list)  # green condition -> item codes
    tolerated = _tolerated_kinds(inputs, policy)

    for hazard in inputs.hazards:
        if hazard.source == "device":
            if hazard.device_kind is not None and hazard.device_kind in tolerated:
                continue
            if inputs.stale and hazard.signal == "offline":
                continue  # the silence itself: what "unknown" says, not a facility fact
        codes = tuple(c for c in hazard.criteria if c in policy.criteria)
        if not codes:
            continue  # a maintenance task (monitoring fault) or an ungraded event
        linked = _linked_conditions(codes, policy, contradicted)
        for code in codes:
            items[code].append(hazard.hazard_id)
        since = local_time(hazard.since, policy)
        text = policy.say(policy.texts.since, detail=hazard.detail, since=since)
        text_en = policy.say_en(policy.texts.since, detail=hazard.detail_en or hazard.detail, since=since)
        reasons.append(
            Reason(
                codes + linked,
                text,
                (hazard.hazard_id,),
                device=hazard.device_id,
                device_kind=hazard.device_kind,
                signal=hazard.signal,
                detail=hazard.detail,
                place=hazard.place,
                text_en=text_en,
            )
        )

    evidence = [e for e in inputs.evidence if e.at <= now] if inputs.evidence else []
    # The latest by time; of two at the same time the one entered later (a higher record id) wins.
    last_assessment = max(
        (e for e in evidence if e.kind == "assessment"), key=lambda e: (e.at, e.record_id), default=None
    )
    for counted in policy.counted if (inputs.complaints or inputs.fires) else ():
        if counted.window is not None:
            start: datetime | None = now - counted.window
        else:  # no window in the seed (R7): until the estate's next assessment
            start = last_assessment.at if last_assessment is not None else None
        if counted.source == "complaints":
            n = sum(1 for t in inputs.complaints if (start is None or start <= t) and t <= now)
        elif counted.source == "fires":
            n = sum(1 for t, _ in inputs.fires if (start is None or start <= t) and t <= now)
        else:
            n = sum(1 for t, fatal in inputs.fires if fatal and (start is None or start <= t) and t <= now)
        if n >= counted.at_least:
            items[counted.criterion].append("")
            codes = (counted.criterion,)
            linked = _linked_conditions(codes, policy, contradicted)
            days = counted.window.days if counted.window is not None else 0
            text, text_en = _both(policy, counted.text, n=n, days=days)
            reasons.append(Reason(codes + linked, text, text_en=text_en))

    conditions, condition_reasons = _conditions(evidence, contradicted, policy, now)
    if last_assessment is None:  # "not assessed" says it once; eight "no evidence" lines would bury it
        condition_reasons = [r for r in condition_reasons if not _is_missing(r, conditions)]
    not_met = [c.code for c in conditions if c.state == "not_met"]
    red = tuple(sorted((c for c in items if policy.category(c) == "red"), key=_code_order))
    yellow = tuple(sorted((c for c in items if policy.category(c) == "yellow"), key=_code_order))
    green_items = [c for c in items if policy.category(c) == "green"]  # a condition filed as missing
    missing = tuple(sorted({*contradicted, *green_items, *not_met}, key=_code_order))
    counts = {"red_items": len(red), "yellow_items": len(yellow), "missing_green": len(missing)}

    colour, rule, rule_en = policy.default, "", ""
    decided_by: str | None = None
    for grade_rule in policy.grade_rules:
        if counts[grade_rule.count] >= grade_rule.at_least:
            colour, decided_by = grade_rule.colour, grade_rule.count
            rule, rule_en = policy.say(grade_rule.why), policy.say_en(grade_rule.why)
            break

    assessed_until = last_assessment.at + policy.assessment.valid_for if last_assessment else None
    floor: list[Reason] = []
    texts = policy.texts
    if inputs.out_of_use and policy.out_of_use_colour is not None and not red:
        colour, decided_by = policy.out_of_use_colour, "out_of_use"
        rule, rule_en = policy.say(texts.why_out_of_use), policy.say_en(texts.why_out_of_use)
        floor.append(_floor(policy, texts.out_of_use))
    elif decided_by is None:
        if last_assessment is None or (assessed_until is not None and assessed_until <= now):
            colour, decided_by = NOT_ASSESSED, "not_assessed"
            if last_assessment is None:
                floor.append(_floor(policy, texts.not_assessed))
            else:
                at, until = local_date(last_assessment.at, policy), local_date(assessed_until or now, policy)
                floor.append(_floor(policy, texts.assessment_expired, at=at, until=until))
        elif any(c.state in ("due", "missing") for c in conditions):
            colour, decided_by = NOT_ASSESSED, "due"
        elif inputs.stale:
            colour, decided_by = UNKNOWN, "stale"
            last = local_time(inputs.last_heard, policy) if inputs.last_heard else "—"
            floor.append(_floor(policy, texts.stale, last=last))
        if colour == NOT_ASSESSED:
            rule, rule_en = policy.say(texts.why_not_assessed), policy.say_en(texts.why_not_assessed)
        elif colour == UNKNOWN:
            rule, rule_en = policy.say(texts.why_unknown), policy.say_en(texts.why_unknown)
        else:
            rule, rule_en = policy.say(texts.why_default), policy.say_en(texts.why_default)

    all_reasons = [_mark(r, decided_by, policy, set(missing)) for r in reasons + condition_reasons] + floor
    return Grade(
        estate_id=inputs.estate_id,
        colour=colour,
        level=policy.level(colour),
        reasons=tuple(sorted(all_reasons, key=lambda r: (not r.decisive, _reason_order(r), r.text))),
        red_items=red,
        yellow_items=yellow,
        missing_green=missing,
        open_hazards=len(inputs.hazards),
        tolerated=tuple(_tolerated_texts(inputs, policy, tolerated, policy.language)),
        tolerated_en=tuple(_tolerated_texts(inputs, policy, tolerated, "en")),
        stale=inputs.stale,
        decided_at=now,
        last_heard=inputs.last_heard,
        rule=rule,
        rule_en=rule_en,
        policy=f"{policy.id}@{policy.version}",
        conditions=conditions,
        assessed_at=last_assessment.at if last_assessment else None,
        assessment_valid_until=assessed_until,
        coverage=_coverage(inputs),
        monitoring_faults=inputs.monitoring_faults,
        out_of_use=inputs.out_of_use,
    )


def _failing_devices(inputs: GradeInputs, policy: Policy) -> dict[DeviceKind, set[str]]:
    """Per kind, the devices with an open device hazard that is an item of some criterion."""
    failing: dict[DeviceKind, set[str]] = defaultdict(set)
    for hazard in inputs.hazards:
        if hazard.source != "device" or hazard.device_kind is None:
            continue
        if inputs.stale and hazard.signal == "offline":
            continue
        if any(c in policy.criteria for c in hazard.criteria):
            failing[hazard.device_kind].add(hazard.device_id)
    return failing


def _tolerated_kinds(inputs: GradeInputs, policy: Policy) -> dict[DeviceKind, int]:
    """Device kinds whose failures stay within the policy's tolerance, with how many failed."""
    out: dict[DeviceKind, int] = {}
    for kind, devices in _failing_devices(inputs, policy).items():
        total = inputs.devices.get(kind, len(devices))
        if not policy.tolerance_for(kind).exceeded(len(devices), total):
            out[kind] = len(devices)
    return out


def _tolerated_texts(
    inputs: GradeInputs, policy: Policy, tolerated: dict[DeviceKind, int], language: str
) -> list[str]:
    """The policy's ``[texts] tolerated`` in ``language``: "烟感探测器 1/20 台故障，在容许范围内"."""
    names = KIND_NAMES.get(language, KIND_NAMES["en"])
    say = policy.say if language == policy.language else policy.say_en
    out = []
    for kind, failed in tolerated.items():
        tolerance = policy.tolerance_for(kind)
        share = (
            f"≥ {tolerance.min_healthy_share:.0%}"
            if tolerance.min_healthy_share is not None
            else f"≤ {tolerance.max_failed or 0}"
        )
        total = inputs.devices.get(kind, failed)
        out.append(
            say(
                policy.texts.tolerated,
                kind=names.get(kind, kind.value),
                failed=failed,
                total=total,
                share=share,
            )
        )
    return out


def _linked_conditions(
    codes: tuple[str, ...], policy: Policy, contradicted: dict[str, list[str]]
) -> tuple[str, ...]:
    """The green conditions ``codes`` contradict (policy.contradicts, or a green code filed itself)."""
    linked: list[str] = []
    for code in codes:
        targets = policy.contradicts.get(code, [])
        if policy.category(code) == "green":
            contradicted[code].append(code)
        for target in targets:
            contradicted[target].append(code)
            if target not in linked and target not in codes:
                linked.append(target)
    return tuple(linked)


def _conditions(
    evidence: list[Evidence], contradicted: dict[str, list[str]], policy: Policy, now: datetime
) -> tuple[tuple[ConditionState, ...], list[Reason]]:
    """Each green condition's state from its latest evidence, and a reason for those that do not hold."""
    states: list[ConditionState] = []
    reasons: list[Reason] = []
    texts = policy.texts
    # The latest record that speaks about each condition, in one pass (of two at the same time the one
    # entered later wins); re-grading a city's 2,000 estates runs this for each.
    latest_of: dict[str, Evidence] = {}
    for e in evidence:
        for code in (*e.met, *e.not_met):
            known = latest_of.get(code)
            if known is None or (e.at, e.record_id) > (known.at, known.record_id):
                condition = policy.conditions.get(code)
                if condition is not None and condition.accepts(e.kind):
                    latest_of[code] = e
    for code in policy.green_conditions():
        condition = policy.conditions.get(code)
        if condition is None:
            continue
        latest = latest_of.get(code)
        against: tuple[str, ...] = ()
        if code in contradicted:
            against = tuple(sorted({c for c in contradicted[code] if c != code}, key=_code_order))
        if latest is None:
            states.append(
                ConditionState(
                    code, "contradicted" if code in contradicted else "missing", contradicted_by=against
                )
            )
            if code not in contradicted:
                text, text_en = _both(policy, texts.condition_missing, code=code, name=_names(code, policy))
                reasons.append(Reason((code,), text, text_en=text_en))
            continue
        until = latest.at + condition.valid_for
        if code in latest.not_met:
            state = "not_met"
            at_text = local_date(latest.at, policy)
            text, text_en = _both(
                policy, texts.condition_not_met, code=code, name=_names(code, policy), at=at_text
            )
            reasons.append(Reason((code,), text, text_en=text_en))
        elif until <= now:
            state = "due"
            if code not in contradicted:  # the contradiction is the stronger fact, and has its own reason
                kind = texts.evidence_kind(latest.kind)
                text, text_en = _both(
                    policy,
                    texts.condition_due,
                    code=code,
                    name=_names(code, policy),
                    kind=(policy.say(kind), kind.en),
                    at=local_date(latest.at, policy),
                    until=local_date(until, policy),
                )
                reasons.append(Reason((code,), text, text_en=text_en))
        else:
            state = "holds"
        if code in contradicted and state != "not_met":
            state = "contradicted"
        states.append(
            ConditionState(code, state, latest.kind, latest.record_id, latest.at, latest.by, until, against)
        )
    return tuple(states), reasons


def _mark(reason: Reason, decided_by: str | None, policy: Policy, missing: set[str]) -> Reason:
    """Mark the reasons that decided the colour: the red items for red, the yellow items for three
    yellow items, the contradicting items and unmet conditions for a missing green condition, the due
    conditions for "not assessed"."""
    codes = reason.codes
    if decided_by == "red_items":
        decisive = any(policy.category(c) == "red" for c in codes if c in policy.criteria)
    elif decided_by == "yellow_items":
        decisive = any(policy.category(c) == "yellow" for c in codes if c in policy.criteria)
    elif decided_by == "missing_green":
        decisive = any(c in missing for c in codes)
    elif decided_by == "due":  # the conditions' own reasons: one green code, no hazard behind it
        decisive = (
            not reason.hazard_ids
            and len(codes) == 1
            and codes[0] in policy.criteria
            and policy.category(codes[0]) == "green"
            and codes[0] not in missing
        )
    else:
        decisive = False
    if decisive == reason.decisive:
        return reason
    return replace(reason, decisive=decisive)


def _is_missing(reason: Reason, conditions: tuple[ConditionState, ...]) -> bool:
    """A condition's own "no evidence on record" reason."""
    missing = {c.code for c in conditions if c.state == "missing"}
    return not reason.hazard_ids and len(reason.codes) == 1 and reason.codes[0] in missing


def _coverage(inputs: GradeInputs) -> float | None:
    if inputs.monitored <= 0:
        return None
    return max(0.0, (inputs.monitored - inputs.monitoring_faults) / inputs.monitored)


def _both(policy: Policy, text: Text, **values: object) -> tuple[str, str]:
    """A policy text in the policy's language and in English; a value given as a (policy's language,
    English) pair is filled in with the matching half."""
    own = {k: v[0] if isinstance(v, tuple) else v for k, v in values.items()}
    en = {k: v[1] if isinstance(v, tuple) else v for k, v in values.items()}
    return policy.say(text, **own), policy.say_en(text, **en)


def _floor(policy: Policy, text: Text, **values: object) -> Reason:
    """A decisive reason of the floors (out of use, not assessed, stale), in both languages."""
    own, en = _both(policy, text, **values)
    return Reason((), own, decisive=True, text_en=en)


def _names(code: str, policy: Policy) -> tuple[str, str]:
    """A criterion's name in the policy's language and in English."""
    criterion = policy.criteria.get(code)
    return (_criterion_name(code, policy), criterion.en if criterion else code)


def _criterion_name(code: str, policy: Policy) -> str:
    criterion = policy.criteria.get(code)
    if criterion is None:
        return code
    return criterion.zh if policy.language == "zh" else criterion.en


def _reason_order(reason: Reason) -> tuple[int, int]:
    return _code_order(reason.codes[0]) if reason.codes else (-1, 0)


def _code_order(code: str) -> tuple[int, int]:
    """R before Y before G, then by number: the order people read the standard in."""
    letter = {"R": 0, "Y": 1, "G": 2}.get(code[:1], 3)
    return letter, int(code[1:]) if code[1:].isdigit() else 0
