"""The hazard closed loop and the alarm lifecycle as explicit state machines. Pure: data and ``now`` in.

Hazard (seed 001: 发现上报 → 分流处置 → 跟踪督办 → 反馈销号, then 回头看)::

    reported --dispatch--> dispatched --start--> rectifying --rectified--> rectified --verify--> closed
        |                      |                     ^                          |                  |
        |                      |                     +------- reject -----------+               recheck
        +----------------------+---- auto_close (the device recovered and stayed healthy) ------> closed

``close`` by a supervisor (e.g. filed in error) is allowed from any open state with a reason. Escalation is
not a state: an item past its deadline is *overdue*, and every escalation is a recorded transition that leaves
the state as it is, one level further up each time (street → district → brigade: ``escalation_level``).
A verified hazard is due for its re-check (复查) a policy delay later, and not before; the re-check passes
(recorded) or fails, and a failed one opens a new hazard linked to this one (the store does both at once).
Nothing is deleted; each transition records who, when and why.

Alarm (a smoke alarm is an alarm, not a hazard)::

    open --acknowledge--> acknowledged --dispatch--> dispatched --on_scene--> on_scene
      \\___________________\\______________________\\_____________________\\__ close(outcome) --> closed

The times of each step are kept so that the 1/3/5-minute targets (respond, arrive, handle) can be reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal


class TransitionError(ValueError):
    """A transition the state machine forbids, or one missing what it needs. The message says which."""


class ClosingError(TransitionError):
    """A close missing what its outcome needs, or given what it does not take (the API answers 422)."""


class HazardState(StrEnum):
    REPORTED = "reported"
    DISPATCHED = "dispatched"
    RECTIFYING = "rectifying"
    RECTIFIED = "rectified"
    CLOSED = "closed"


class HazardAction(StrEnum):
    DISPATCH = "dispatch"  # to a responsible party
    START = "start"  # rectification begins, with a deadline
    RECTIFIED = "rectified"  # the responsible party says it is fixed, with evidence
    VERIFY = "verify"  # an inspector confirms: closed
    REJECT = "reject"  # an inspector finds it not fixed: back to rectifying
    AUTO_CLOSE = "auto_close"  # a device-raised hazard whose device recovered and stayed healthy
    CLOSE = "close"  # a supervisor closes it (filed in error, duplicate), with a reason
    ESCALATE = "escalate"  # overdue: recorded, state unchanged
    RECHECK = "recheck"  # 回头看 after closing: recorded, state unchanged
    NOTE = "note"  # a comment or a new photo: recorded, state unchanged


HAZARD_TRANSITIONS: dict[HazardAction, tuple[frozenset[HazardState], HazardState | None]] = {
    HazardAction.DISPATCH: (frozenset({HazardState.REPORTED}), HazardState.DISPATCHED),
    HazardAction.START: (frozenset({HazardState.REPORTED, HazardState.DISPATCHED}), HazardState.RECTIFYING),
    HazardAction.RECTIFIED: (frozenset({HazardState.RECTIFYING}), HazardState.RECTIFIED),
    HazardAction.VERIFY: (frozenset({HazardState.RECTIFIED}), HazardState.CLOSED),
    HazardAction.REJECT: (frozenset({HazardState.RECTIFIED}), HazardState.RECTIFYING),
    HazardAction.AUTO_CLOSE: (frozenset(set(HazardState) - {HazardState.CLOSED}), HazardState.CLOSED),
    HazardAction.CLOSE: (frozenset(set(HazardState) - {HazardState.CLOSED}), HazardState.CLOSED),
    HazardAction.ESCALATE: (frozenset(set(HazardState) - {HazardState.CLOSED, HazardState.RECTIFIED}), None),
    HazardAction.RECHECK: (frozenset({HazardState.CLOSED}), None),
    HazardAction.NOTE: (frozenset(HazardState), None),
}


class RecheckOutcome(StrEnum):
    """What a re-check (复查) found: still fixed, or the problem is back (opening a new, linked hazard)."""

    PASSED = "passed"
    FAILED = "failed"


#: Who an escalation can go to; a policy lists the levels it uses, lowest first.
EscalationLevel = Literal["community", "street", "district", "brigade"]
#: The levels an escalation goes to by default; ``escalation_level`` climbs them one per escalation.
ESCALATION_LEVELS: tuple[EscalationLevel, ...] = ("street", "district", "brigade")


def escalation_level(escalation: int, levels: Sequence[str] = ESCALATION_LEVELS) -> str:
    """The level the ``escalation``-th escalation (1-based) of an item goes to: one up each time, and the
    top level again once it has been reached."""
    if escalation < 1:
        raise ValueError(f"escalations count from 1, not {escalation}")
    return levels[min(escalation, len(levels)) - 1]


OPEN_STATES: frozenset[HazardState] = frozenset(set(HazardState) - {HazardState.CLOSED})


@dataclass(frozen=True, slots=True)
class HazardStep:
    """The outcome of a permitted transition: the new state and deadline to store with the record."""

    state: HazardState
    deadline: datetime | None


def allowed_hazard_actions(state: HazardState) -> list[HazardAction]:
    return [a for a, (sources, _) in HAZARD_TRANSITIONS.items() if state in sources]


def step_hazard(
    state: HazardState,
    action: HazardAction,
    *,
    now: datetime,
    deadline: datetime | None,
    new_deadline: datetime | None = None,
    default_deadline: timedelta | None = None,
    responsible: str | None = None,
    reason: str = "",
    party_id: int | None = None,
    recheck_due: datetime | None = None,
    outcome: RecheckOutcome | None = None,
) -> HazardStep:
    """Check one transition and compute the resulting state and deadline, or raise ``TransitionError``.

    ``deadline`` is the hazard's current one; ``new_deadline`` one the caller asks for (must be in the
    future); ``default_deadline`` the policy's for the hazard's colour, used when starting rectification
    without an explicit deadline. A dispatch goes to a party: ``party_id`` (which the caller has checked is
    one of the estate's parties) or, from callers without parties, a ``responsible`` in words; only a
    dispatch takes a party. A re-check takes its ``outcome`` and is possible from the hazard's
    ``recheck_due`` on (a failed one needs a reason: what was found).
    """
    sources, target = HAZARD_TRANSITIONS[action]
    if state not in sources:
        allowed = ", ".join(a.value for a in allowed_hazard_actions(state)) or "none"
        raise TransitionError(
            f"cannot {action.value!r} a hazard that is {state.value!r}; "
            f"allowed from {state.value!r}: {allowed}"
        )
    if new_deadline is not None and new_deadline <= now:
        raise TransitionError(f"deadline {new_deadline.isoformat()} is in the past (now {now.isoformat()})")
    if action is HazardAction.DISPATCH and party_id is None and not responsible:
        raise TransitionError("dispatch needs the responsible party ('party_id', or 'responsible')")
    if action is not HazardAction.DISPATCH and party_id is not None:
        raise TransitionError(f"only 'dispatch' takes a party ('party_id'), not {action.value!r}")
    if action in (HazardAction.CLOSE, HazardAction.REJECT) and not reason:
        raise TransitionError(f"{action.value!r} needs a reason")
    if action is HazardAction.RECHECK:
        _check_recheck(now, recheck_due, outcome, reason)
    elif outcome is not None:
        raise TransitionError(f"only 'recheck' takes an outcome, not {action.value!r}")
    # Starting rectification needs a deadline; so does a rejected rectification whose deadline has passed
    # (otherwise it would be overdue the moment it is sent back).
    if new_deadline is None and action is HazardAction.START and deadline is None:
        if default_deadline is None:
            raise TransitionError("start needs a deadline and the policy gives none")
        new_deadline = now + default_deadline
    passed = deadline is not None and deadline <= now
    if new_deadline is None and action is HazardAction.REJECT and passed and default_deadline is not None:
        new_deadline = now + default_deadline
    return HazardStep(state=target or state, deadline=new_deadline or deadline)


def _check_recheck(
    now: datetime, recheck_due: datetime | None, outcome: RecheckOutcome | None, reason: str
) -> None:
    if outcome is None:
        raise TransitionError("recheck needs its outcome: 'passed' or 'failed'")
    if recheck_due is None:
        raise TransitionError(
            "no re-check is scheduled for this hazard: one is scheduled when a hazard is verified and "
            "closed, and done once"
        )
    if now < recheck_due:
        left = recheck_due - now
        raise TransitionError(
            f"the re-check is due on {recheck_due.isoformat()} ({left.days} d {left.seconds // 3600} h from "
            "now), not before: a re-check shows the fix has lasted"
        )
    if outcome is RecheckOutcome.FAILED and not reason:
        raise TransitionError("a failed re-check needs a reason: what was found")


def is_overdue(state: HazardState, deadline: datetime | None, now: datetime) -> bool:
    """Past its deadline and not yet fixed (a rectified item waits for the inspector, not the owner)."""
    return (
        deadline is not None
        and now > deadline
        and state
        in (
            HazardState.REPORTED,
            HazardState.DISPATCHED,
            HazardState.RECTIFYING,
        )
    )


def escalation_due(
    deadline: datetime | None, last_escalated: datetime | None, now: datetime, every: timedelta
) -> bool:
    """First escalation when the deadline passes, then again every ``every`` while it stays overdue."""
    if deadline is None or now <= deadline:
        return False
    return last_escalated is None or now - last_escalated >= every


# -- alarms ---------------------------------------------------------------------------------------------


class AlarmState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    CLOSED = "closed"


class AlarmAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    ON_SCENE = "on_scene"
    CLOSE = "close"


class AlarmOutcome(StrEnum):
    REAL_FIRE = "real_fire"
    FALSE_ALARM = "false_alarm"
    TEST = "test"
    FAULT = "fault"  # the detector misbehaved (counts toward its maintenance, not as a fire)


class FalseAlarmCause(StrEnum):
    """Why a false alarm went off (误报原因): feeds the false-alarm figures per detector and cause."""

    COOKING_SMOKE = "cooking_smoke"
    STEAM = "steam"
    DUST = "dust"
    INSECTS = "insects"
    DEVICE_FAULT = "device_fault"
    TEST = "test"
    OTHER = "other"  # with a text saying what


FALSE_ALARM_CAUSE_ZH: dict[str, str] = {
    "cooking_smoke": "烹饪油烟",
    "steam": "水蒸气",
    "dust": "灰尘",
    "insects": "昆虫",
    "device_fault": "设备故障",
    "test": "测试",
    "other": "其他",
}


@dataclass(frozen=True, slots=True)
class AlarmClosing:
    """What a permitted close records besides the outcome: the false-alarm cause, or the fire's answers."""

    cause: FalseAlarmCause | None = None
    cause_text: str = ""
    fatal: bool | None = None
    high_impact: bool | None = None

    def data(self) -> dict[str, object]:
        """The close transition's data (only what was given)."""
        out: dict[str, object] = {}
        if self.cause is not None:
            out["cause"] = self.cause.value
            if self.cause_text:
                out["cause_text"] = self.cause_text
        if self.fatal is not None:
            out["fatal"] = self.fatal
        if self.high_impact is not None:
            out["high_impact"] = self.high_impact
        return out


def check_alarm_close(
    outcome: AlarmOutcome,
    *,
    cause: FalseAlarmCause | None = None,
    cause_text: str = "",
    confirm: bool = False,
    fatal: bool | None = None,
    high_impact: bool | None = None,
) -> AlarmClosing:
    """What closing with ``outcome`` needs, or ``TransitionError`` naming the field and what is allowed.

    A false alarm needs its ``cause`` (and ``cause_text`` for ``other``); a real fire needs ``confirm`` and an
    explicit ``fatal`` and ``high_impact`` answer (never defaulted), and takes no cause; a fault may say
    ``device_fault`` (taken as its cause when none is given); a test takes no fire answers.
    """
    cause_text = cause_text.strip()
    causes = ", ".join(c.value for c in FalseAlarmCause)
    if outcome is AlarmOutcome.REAL_FIRE:
        if cause is not None or cause_text:
            raise ClosingError("'cause' is for false alarms only: a real fire takes none")
        if not confirm:
            raise ClosingError("closing as a real fire needs 'confirm': true (it counts toward the grade)")
        missing = [name for name, v in (("fatal", fatal), ("high_impact", high_impact)) if v is None]
        if missing:
            raise ClosingError(
                "closing as a real fire needs an answer (true or false) for "
                + " and ".join(repr(m) for m in missing)
            )
        return AlarmClosing(fatal=fatal, high_impact=high_impact)
    if fatal is not None or high_impact is not None:
        raise ClosingError(f"'fatal' and 'high_impact' are for real fires only, not {outcome.value!r}")
    if outcome is AlarmOutcome.FALSE_ALARM:
        if cause is None:
            raise ClosingError(f"closing as a false alarm needs 'cause', one of: {causes}")
        if cause is FalseAlarmCause.OTHER and not cause_text:
            raise ClosingError("cause 'other' needs 'cause_text' saying what it was")
        return AlarmClosing(cause=cause, cause_text=cause_text)
    if outcome is AlarmOutcome.FAULT:
        if cause not in (None, FalseAlarmCause.DEVICE_FAULT) or cause_text:
            raise ClosingError("a fault's 'cause' can only be 'device_fault' (and takes no 'cause_text')")
        return AlarmClosing(cause=FalseAlarmCause.DEVICE_FAULT)
    if cause is not None or cause_text:
        raise ClosingError(
            f"'cause' is for false alarms (or 'device_fault' for faults), not {outcome.value!r}"
        )
    return AlarmClosing()


ALARM_TRANSITIONS: dict[AlarmAction, tuple[frozenset[AlarmState], AlarmState]] = {
    AlarmAction.ACKNOWLEDGE: (frozenset({AlarmState.OPEN}), AlarmState.ACKNOWLEDGED),
    AlarmAction.DISPATCH: (frozenset({AlarmState.ACKNOWLEDGED}), AlarmState.DISPATCHED),
    AlarmAction.ON_SCENE: (frozenset({AlarmState.DISPATCHED}), AlarmState.ON_SCENE),
    # Closing needs someone to have acknowledged it: an unacknowledged alarm cannot vanish unseen.
    AlarmAction.CLOSE: (
        frozenset({AlarmState.ACKNOWLEDGED, AlarmState.DISPATCHED, AlarmState.ON_SCENE}),
        AlarmState.CLOSED,
    ),
}

#: The micro fire station targets of seed 001: respond in 1 minute, arrive in 3, handle in 5.
ALARM_TARGETS_S: dict[str, float] = {"ack": 60.0, "on_scene": 180.0, "close": 300.0}


def step_alarm(state: AlarmState, action: AlarmAction, outcome: AlarmOutcome | None = None) -> AlarmState:
    sources, target = ALARM_TRANSITIONS[action]
    if state not in sources:
        allowed = [a.value for a, (src, _) in ALARM_TRANSITIONS.items() if state in src]
        raise TransitionError(
            f"cannot {action.value!r} an alarm that is {state.value!r}; "
            f"allowed from {state.value!r}: {', '.join(allowed) or 'none'}"
        )
    if action is AlarmAction.CLOSE and outcome is None:
        raise TransitionError("close needs an outcome: " + ", ".join(o.value for o in AlarmOutcome))
    if action is not AlarmAction.CLOSE and outcome is not None:
        raise TransitionError("only 'close' takes an outcome")
    return target
