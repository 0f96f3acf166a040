"""Assessments (排查登记), later evidence, and estates set out of use: checked, stored, graded at once.

An estate is graded only after the street office (or the brigade) has inspected and registered it: an
assessment record says who inspected, when, which green conditions were found to hold (``met``) and which
not (``not_met``). Later records (a patrol log, a drill, a maintenance/testing report, a duty roster) renew
the conditions their kind may evidence (``Condition.evidence`` in the policy). Each condition then holds
until its validity (policy data) runs out; grading (rules/grading.py) reads the records from the index.

Every refusal names the field and what is allowed, all problems at once, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from datetime import datetime, timedelta

from gateway.casework.desk import Desk
from gateway.casework.index import CaseIndex
from gateway.casework.model import EngineError, check_estate
from gateway.store.assessments import AssessmentRecord, EstateStatusRecord
from rules.grading import Evidence
from rules.policy import EVIDENCE_KINDS, Policy

#: A record's time may be this far ahead of the gateway's clock (a phone's clock, a form filled in fast).
CLOCK_SKEW = timedelta(minutes=5)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: What an attachment may carry: a name, and where it is (a link, or a path the gateway stored it under).
ATTACHMENT_KEYS = ("name", "url", "path", "sha256")

_KIND_NAMES = {
    "assessment": "an assessment",
    "patrol": "a patrol log",
    "drill": "a drill",
    "maintenance_report": "a maintenance/testing report",
    "duty_roster": "a duty roster",
}


def evidence_of(record: AssessmentRecord) -> Evidence:
    """What grading reads from a stored record."""
    return Evidence(
        record_id=record.id,
        kind=record.kind,
        at=record.at,
        by=record.recorded_by,
        met=tuple(record.met),
        not_met=tuple(record.not_met),
    )


def codes(values: Sequence[str] | str | None) -> list[str]:
    """Condition codes as given (a list, or ``"G1,G2"``): trimmed, upper-cased, each once, in order."""
    if values is None:
        return []
    items = values.split(",") if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        code = str(item).strip().upper()
        if code and code not in out:
            out.append(code)
    return out


def _span(delta: timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:g} days" if days >= 1 else f"{delta.total_seconds() / 3600:g} hours"


def record_problems(
    policy: Policy,
    *,
    kind: str,
    at: datetime,
    by: str,
    met: Sequence[str],
    not_met: Sequence[str],
    attachments: Sequence[Mapping[str, str]],
    now: datetime,
) -> list[str]:
    """Everything wrong with an assessment or evidence record, each naming its field and what is allowed
    (empty: it may be stored). ``met``/``not_met`` as ``codes`` returns them."""
    problems: list[str] = []
    greens = list(policy.conditions)
    allowed = ", ".join(greens) or "none"
    if kind not in EVIDENCE_KINDS:
        problems.append(f"kind: {kind!r} is not a kind of record; allowed: {', '.join(EVIDENCE_KINDS)}")
    if not by.strip():
        problems.append("by: who inspected (or recorded) is required")
    if not met and not not_met:
        problems.append(
            "met, not_met: name at least one green condition found to hold (met) or, in an assessment, "
            f"found not to hold (not_met); this policy's conditions are {allowed}"
        )
    if not_met and kind != "assessment" and kind in EVIDENCE_KINDS:
        problems.append(
            f"not_met: only an assessment records conditions found not to hold, not {_KIND_NAMES[kind]}; "
            "file what is wrong as a hazard, or record an assessment"
        )
    for code in sorted(set(met) & set(not_met)):
        problems.append(f"met, not_met: {code} is in both; a condition either holds or does not")
    future = at.tzinfo is not None and at > now + CLOCK_SKEW
    if at.tzinfo is None:
        problems.append("at: give the time with its time zone, e.g. 2026-11-23T10:00:00+08:00")
    elif future:
        problems.append(
            f"at: {at.isoformat()} is in the future (the gateway's clock says {now.isoformat()}; "
            f"at most {int(CLOCK_SKEW.total_seconds() // 60)} minutes ahead are allowed)"
        )
    aware = at.tzinfo is not None and not future
    if aware and kind == "assessment" and at + policy.assessment.valid_for <= now:
        problems.append(
            f"at: an assessment on {at:%Y-%m-%d} would have expired on arrival (assessments hold for "
            f"{_span(policy.assessment.valid_for)}: {policy.assessment.source.en}); record a new one"
        )
    for field, values in (("met", met), ("not_met", not_met)):
        for code in values:
            condition = policy.conditions.get(code)
            if condition is None:
                problems.append(
                    f"{field}: {code!r} is not a green condition of policy {policy.id}; allowed: {allowed}"
                )
                continue
            if field == "not_met" and kind != "assessment":
                continue  # refused above: only an assessment finds a condition not to hold
            if kind in EVIDENCE_KINDS and not condition.accepts(kind):
                may = ", ".join(k for k in EVIDENCE_KINDS if condition.accepts(k))
                problems.append(
                    f"{field}: {_KIND_NAMES[kind]} cannot evidence {code} ({policy.criteria[code].en}); "
                    f"records that may: {may}"
                )
            elif field == "met" and aware and at + condition.valid_for <= now:
                problems.append(
                    f"at: {code} evidenced on {at:%Y-%m-%d} would have expired on arrival, on "
                    f"{at + condition.valid_for:%Y-%m-%d} ({code} holds for {_span(condition.valid_for)}: "
                    f"{condition.source.en})"
                )
    problems += attachment_problems(attachments)
    return problems


def attachment_problems(attachments: Sequence[Mapping[str, str]]) -> list[str]:
    problems = []
    for i, attachment in enumerate(attachments):
        where = f"attachments.{i}"
        unknown = sorted(set(attachment) - set(ATTACHMENT_KEYS))
        if unknown:
            problems.append(f"{where}: unknown keys {unknown}; allowed: {', '.join(ATTACHMENT_KEYS)}")
        if not str(attachment.get("name") or "").strip():
            problems.append(f"{where}.name: required (what the file is, e.g. 排查登记表.pdf)")
        if not (attachment.get("url") or attachment.get("path")):
            problems.append(f"{where}: give a url or the path it was stored under (POST /api/uploads)")
        sha = attachment.get("sha256")
        if sha is not None and not _SHA256.match(str(sha)):
            problems.append(f"{where}.sha256: 64 lower-case hex digits, or leave it out")
    return problems


def status_problems(
    *, out_of_use: bool, by: str, reason: str, current: EstateStatusRecord | None
) -> list[str]:
    problems = []
    if not by.strip():
        problems.append("by: who sets the estate's state is required")
    if not reason.strip():
        problems.append("reason: required (why the estate is out of use, or back in use)")
    was = current.out_of_use if current is not None else False
    if was == out_of_use:
        state = "out of use" if out_of_use else "in use"
        since = f" since {current.at:%Y-%m-%d %H:%M} UTC, set by {current.by}" if current is not None else ""
        problems.append(f"out_of_use: the estate is {state} already{since}")
    return problems


class AssessmentDesk(Desk):
    """Assessments, evidence and the out-of-use state that people record."""

    def record(
        self,
        *,
        estate_id: str,
        kind: str,
        at: datetime,
        by: str,
        met: Sequence[str] = (),
        not_met: Sequence[str] = (),
        note: str = "",
        attachments: Sequence[Mapping[str, str]] = (),
        now: datetime | None = None,
    ) -> AssessmentRecord:
        """Check, store and grade an assessment or evidence record; ``EngineError`` lists every problem and
        nothing is written, ``NotFound`` for an estate the registry does not know."""
        now = now or self.clock()
        check_estate(self.grader.registry, estate_id)
        met, not_met = codes(met), codes(not_met)
        problems = record_problems(
            self.policy,
            kind=kind,
            at=at,
            by=by,
            met=met,
            not_met=not_met,
            attachments=attachments,
            now=now,
        )
        if problems:
            raise EngineError("; ".join(problems))
        record = self.store.assessments.add(
            estate_id=estate_id,
            kind=kind,
            at=at,
            recorded_by=by.strip(),
            met=met,
            not_met=not_met,
            note=note,
            attachments=[{k: str(v) for k, v in a.items() if v is not None} for a in attachments],
            now=now,
        )
        self.index.add_evidence(estate_id, evidence_of(record))
        self.grader.regrade({estate_id}, now)
        return record

    def void(self, record_id: int, *, by: str, reason: str, now: datetime | None = None) -> AssessmentRecord:
        """Void a record entered in error (it stays, marked); the estate is graded without it."""
        now = now or self.clock()
        problems = []
        if not by.strip():
            problems.append("by: who voids the record is required")
        if not reason.strip():
            problems.append("reason: required (why the record is void, e.g. entered for the wrong estate)")
        if problems:
            raise EngineError("; ".join(problems))
        record = self.store.assessments.void(record_id, by=by.strip(), reason=reason.strip(), now=now)
        self.index.remove_evidence(record.estate_id, record.id)
        self.grader.regrade({record.estate_id}, now)
        return record

    def set_out_of_use(
        self, *, estate_id: str, out_of_use: bool, by: str, reason: str, now: datetime | None = None
    ) -> EstateStatusRecord:
        """Set an estate out of use (停租停用) or back in use. Recorded whatever the policy; graded where the
        policy has an out-of-use colour (the four-colour policy's grey)."""
        now = now or self.clock()
        check_estate(self.grader.registry, estate_id)
        current = self.store.estate_status.current(estate_id)
        problems = status_problems(out_of_use=out_of_use, by=by, reason=reason, current=current)
        if problems:
            raise EngineError("; ".join(problems))
        record = self.store.estate_status.set(
            estate_id=estate_id, out_of_use=out_of_use, by=by.strip(), reason=reason.strip(), now=now
        )
        self.index.set_out_of_use(estate_id, out_of_use)
        self.grader.regrade({estate_id}, now)
        return record


def take_in(
    index: CaseIndex,
    records: Sequence[AssessmentRecord],
    statuses: Mapping[str, EstateStatusRecord],
    known: Set[str],
) -> set[str]:
    """Take in records and out-of-use changes written by other gateways on the same store (``StoreSync``);
    what the index holds already changes nothing. Returns the estates whose grade inputs changed."""
    affected: set[str] = set()
    for record in records:
        if record.estate_id not in known:
            continue
        held = any(e.record_id == record.id for e in index.evidence.get(record.estate_id, ()))
        if record.voided and held:
            index.remove_evidence(record.estate_id, record.id)
        elif not record.voided and not held:
            index.add_evidence(record.estate_id, evidence_of(record))
        else:
            continue
        affected.add(record.estate_id)
    for estate_id, status in statuses.items():
        if estate_id in known and status.out_of_use != (estate_id in index.out_of_use):
            index.set_out_of_use(estate_id, status.out_of_use)
            affected.add(estate_id)
    return affected
