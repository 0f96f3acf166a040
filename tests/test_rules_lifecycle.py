"""Unit tests of the hazard closed loop and the alarm lifecycle (rules/lifecycle.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from rules.lifecycle import (
    ALARM_TARGETS_S,
    OPEN_STATES,
    AlarmAction,
    AlarmOutcome,
    AlarmState,
    HazardAction,
    HazardState,
    RecheckOutcome,
    TransitionError,
    allowed_hazard_actions,
    escalation_due,
    escalation_level,
    is_overdue,
    step_alarm,
    step_hazard,
)
from rules.policy import builtin_policy

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
DAY30 = timedelta(days=30)
DAY = timedelta(days=1)

H = HazardState
A = HazardAction

#: The closed loop of seed 001, written out by hand (not derived from the module's table):
#: state -> {action: state after}.
EXPECTED: dict[HazardState, dict[HazardAction, HazardState]] = {
    H.REPORTED: {
        A.DISPATCH: H.DISPATCHED,
        A.START: H.RECTIFYING,
        A.AUTO_CLOSE: H.CLOSED,
        A.CLOSE: H.CLOSED,
        A.ESCALATE: H.REPORTED,
        A.NOTE: H.REPORTED,
    },
    H.DISPATCHED: {
        A.START: H.RECTIFYING,
        A.AUTO_CLOSE: H.CLOSED,
        A.CLOSE: H.CLOSED,
        A.ESCALATE: H.DISPATCHED,
        A.NOTE: H.DISPATCHED,
    },
    H.RECTIFYING: {
        A.RECTIFIED: H.RECTIFIED,
        A.AUTO_CLOSE: H.CLOSED,
        A.CLOSE: H.CLOSED,
        A.ESCALATE: H.RECTIFYING,
        A.NOTE: H.RECTIFYING,
    },
    H.RECTIFIED: {
        A.VERIFY: H.CLOSED,
        A.REJECT: H.RECTIFYING,
        A.AUTO_CLOSE: H.CLOSED,
        A.CLOSE: H.CLOSED,
        A.NOTE: H.RECTIFIED,
    },
    H.CLOSED: {A.RECHECK: H.CLOSED, A.NOTE: H.CLOSED},
}

#: Everything an action may need, so that only the state decides in the exhaustive tests.
COMPLETE = {
    "responsible": "Greenfield Property Co.",
    "reason": "checked on site",
    "default_deadline": 30 * DAY,
}


def test_every_state_and_action_is_covered_by_the_expected_table() -> None:
    assert set(EXPECTED) == set(HazardState)
    assert set(HazardState) - {H.CLOSED} == set(OPEN_STATES)
    for state, actions in EXPECTED.items():
        assert sorted(allowed_hazard_actions(state)) == sorted(actions), state


@pytest.mark.parametrize(
    ("state", "action"),
    [(s, a) for s in HazardState for a in HazardAction if a in EXPECTED[s]],
    ids=str,
)
def test_allowed_hazard_transitions(state: HazardState, action: HazardAction) -> None:
    recheck = {"outcome": RecheckOutcome.PASSED, "recheck_due": NOW} if action is A.RECHECK else {}
    step = step_hazard(state, action, now=NOW, deadline=None, **COMPLETE, **recheck)  # type: ignore[arg-type]
    assert step.state is EXPECTED[state][action]


@pytest.mark.parametrize(
    ("state", "action"),
    [(s, a) for s in HazardState for a in HazardAction if a not in EXPECTED[s]],
    ids=str,
)
def test_forbidden_hazard_transitions_say_what_is_allowed(state: HazardState, action: HazardAction) -> None:
    with pytest.raises(TransitionError) as info:
        step_hazard(state, action, now=NOW, deadline=None, **COMPLETE)  # type: ignore[arg-type]
    message = str(info.value)
    assert f"cannot '{action.value}'" in message
    assert f"'{state.value}'" in message
    allowed = message.split("allowed from", 1)[1]
    for ok in EXPECTED[state]:
        assert ok.value in allowed
    assert action.value not in allowed.replace(f"'{state.value}'", "")


def test_the_whole_closed_loop_with_a_reject() -> None:
    policy = builtin_policy("default")
    state, deadline, now = H.REPORTED, None, NOW
    step = step_hazard(state, A.DISPATCH, now=now, deadline=deadline, responsible="property company")
    assert step == step.__class__(H.DISPATCHED, None)
    now += timedelta(hours=2)
    step = step_hazard(
        step.state, A.START, now=now, deadline=None, default_deadline=policy.deadline_for("Y7")
    )
    assert step.state is H.RECTIFYING
    assert step.deadline == now + 30 * DAY
    deadline = step.deadline
    now += 5 * DAY
    step = step_hazard(step.state, A.RECTIFIED, now=now, deadline=deadline)
    assert step.state is H.RECTIFIED
    assert step.deadline == deadline
    step = step_hazard(step.state, A.REJECT, now=now, deadline=deadline, reason="exit still padlocked")
    assert step.state is H.RECTIFYING
    step = step_hazard(step.state, A.RECTIFIED, now=now + DAY, deadline=deadline)
    step = step_hazard(step.state, A.VERIFY, now=now + 2 * DAY, deadline=deadline)
    assert step.state is H.CLOSED
    due = now + 32 * DAY
    step = step_hazard(
        step.state, A.RECHECK, now=due, deadline=deadline, recheck_due=due, outcome=RecheckOutcome.PASSED
    )
    assert step.state is H.CLOSED


# -- what transitions need --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [A.DISPATCH, A.START, A.NOTE, A.ESCALATE])
def test_a_deadline_in_the_past_is_refused(action: HazardAction) -> None:
    for past in (NOW - timedelta(seconds=1), NOW):
        with pytest.raises(TransitionError, match="in the past"):
            step_hazard(H.REPORTED, action, now=NOW, deadline=None, new_deadline=past, **COMPLETE)  # type: ignore[arg-type]


def test_a_future_deadline_is_taken() -> None:
    wanted = NOW + 10 * DAY
    step = step_hazard(
        H.DISPATCHED, A.START, now=NOW, deadline=None, new_deadline=wanted, default_deadline=DAY
    )
    assert step.deadline == wanted
    # An explicit new deadline replaces the current one (an extension).
    later = NOW + 20 * DAY
    step = step_hazard(H.RECTIFYING, A.NOTE, now=NOW, deadline=wanted, new_deadline=later)
    assert step.deadline == later


@pytest.mark.parametrize("responsible", [None, ""])
def test_dispatch_needs_a_responsible_party(responsible: str | None) -> None:
    with pytest.raises(TransitionError, match="responsible"):
        step_hazard(H.REPORTED, A.DISPATCH, now=NOW, deadline=None, responsible=responsible)


@pytest.mark.parametrize(
    ("state", "action"), [(H.REPORTED, A.CLOSE), (H.RECTIFIED, A.CLOSE), (H.RECTIFIED, A.REJECT)]
)
def test_close_and_reject_need_a_reason(state: HazardState, action: HazardAction) -> None:
    with pytest.raises(TransitionError, match=f"'{action.value}' needs a reason"):
        step_hazard(state, action, now=NOW, deadline=None)
    assert step_hazard(state, action, now=NOW, deadline=None, reason="duplicate of #12").state in (
        H.CLOSED,
        H.RECTIFYING,
    )


def test_auto_close_needs_no_reason() -> None:
    assert step_hazard(H.RECTIFYING, A.AUTO_CLOSE, now=NOW, deadline=None).state is H.CLOSED


@pytest.mark.parametrize(
    ("policy_name", "code", "expected"),
    [
        ("default", "R4", timedelta(hours=24)),
        ("default", "Y1", timedelta(days=30)),
        ("default", "G8", timedelta(days=30)),
        ("four_colour", "R4", timedelta(hours=12)),
        ("four_colour", "Y1", timedelta(days=15)),
    ],
)
def test_start_without_a_deadline_uses_the_policy_default(
    policy_name: str, code: str, expected: timedelta
) -> None:
    policy = builtin_policy(policy_name)
    step = step_hazard(
        H.REPORTED, A.START, now=NOW, deadline=None, default_deadline=policy.deadline_for(code)
    )
    assert step.state is H.RECTIFYING
    assert step.deadline == NOW + expected


def test_start_keeps_an_existing_deadline() -> None:
    existing = NOW + 3 * DAY
    step = step_hazard(H.DISPATCHED, A.START, now=NOW, deadline=existing, default_deadline=30 * DAY)
    assert step.deadline == existing


def test_start_without_any_deadline_is_refused() -> None:
    with pytest.raises(TransitionError, match="start needs a deadline"):
        step_hazard(H.REPORTED, A.START, now=NOW, deadline=None)


def test_recorded_actions_leave_state_and_deadline_alone() -> None:
    deadline = NOW - DAY  # already overdue: escalating must not require a new deadline
    for state in (H.REPORTED, H.DISPATCHED, H.RECTIFYING):
        step = step_hazard(state, A.ESCALATE, now=NOW, deadline=deadline)
        assert (step.state, step.deadline) == (state, deadline)
    step = step_hazard(H.CLOSED, A.NOTE, now=NOW, deadline=deadline)
    assert (step.state, step.deadline) == (H.CLOSED, deadline)


# -- overdue and escalation -------------------------------------------------------------------------------


def test_is_overdue() -> None:
    deadline = NOW + DAY
    for state in (H.REPORTED, H.DISPATCHED, H.RECTIFYING):
        assert not is_overdue(state, deadline, NOW)
        assert not is_overdue(state, deadline, deadline)  # due, not yet overdue
        assert is_overdue(state, deadline, deadline + timedelta(seconds=1))
    # A rectified item waits for the inspector; a closed one is done; no deadline, nothing overdue.
    assert not is_overdue(H.RECTIFIED, deadline, NOW + 10 * DAY)
    assert not is_overdue(H.CLOSED, deadline, NOW + 10 * DAY)
    assert not is_overdue(H.RECTIFYING, None, NOW + 1000 * DAY)


def test_escalation_due_first_at_the_deadline_then_every_period() -> None:
    every = timedelta(days=7)
    deadline = NOW + DAY
    assert not escalation_due(None, None, NOW, every)
    assert not escalation_due(deadline, None, NOW, every)
    assert not escalation_due(deadline, None, deadline, every)
    first = deadline + timedelta(minutes=1)
    assert escalation_due(deadline, None, first, every)
    assert not escalation_due(deadline, first, first + 6 * DAY, every)
    assert escalation_due(deadline, first, first + 7 * DAY, every)


def test_escalation_stepped_day_by_day_escalates_weekly() -> None:
    every = builtin_policy("default").deadlines.escalate_every
    deadline = NOW + 30 * DAY
    last: datetime | None = None
    escalations: list[datetime] = []
    now = NOW
    for _ in range(60):
        now += DAY
        if is_overdue(H.RECTIFYING, deadline, now) and escalation_due(deadline, last, now, every):
            step_hazard(H.RECTIFYING, A.ESCALATE, now=now, deadline=deadline)
            escalations.append(now)
            last = now
    assert escalations == [NOW + d * DAY for d in (31, 38, 45, 52, 59)]


# -- alarms -----------------------------------------------------------------------------------------------


def test_alarm_full_lifecycle() -> None:
    state = AlarmState.OPEN
    state = step_alarm(state, AlarmAction.ACKNOWLEDGE)
    assert state is AlarmState.ACKNOWLEDGED
    state = step_alarm(state, AlarmAction.DISPATCH)
    assert state is AlarmState.DISPATCHED
    state = step_alarm(state, AlarmAction.ON_SCENE)
    assert state is AlarmState.ON_SCENE
    assert step_alarm(state, AlarmAction.CLOSE, AlarmOutcome.REAL_FIRE) is AlarmState.CLOSED


@pytest.mark.parametrize("state", [AlarmState.ACKNOWLEDGED, AlarmState.DISPATCHED, AlarmState.ON_SCENE])
@pytest.mark.parametrize("outcome", list(AlarmOutcome))
def test_an_acknowledged_alarm_closes_with_any_outcome(state: AlarmState, outcome: AlarmOutcome) -> None:
    assert step_alarm(state, AlarmAction.CLOSE, outcome) is AlarmState.CLOSED


def test_close_needs_an_outcome() -> None:
    with pytest.raises(TransitionError, match="close needs an outcome: real_fire, false_alarm, test, fault"):
        step_alarm(AlarmState.ACKNOWLEDGED, AlarmAction.CLOSE)


def test_an_unacknowledged_alarm_cannot_be_closed() -> None:
    with pytest.raises(TransitionError) as info:
        step_alarm(AlarmState.OPEN, AlarmAction.CLOSE, AlarmOutcome.FALSE_ALARM)
    message = str(info.value)
    assert "cannot 'close' an alarm that is 'open'" in message
    assert message.endswith("allowed from 'open': acknowledge")


def test_only_close_takes_an_outcome() -> None:
    with pytest.raises(TransitionError, match="only 'close' takes an outcome"):
        step_alarm(AlarmState.OPEN, AlarmAction.ACKNOWLEDGE, AlarmOutcome.TEST)


ALARM_EXPECTED = {
    AlarmState.OPEN: {AlarmAction.ACKNOWLEDGE},
    AlarmState.ACKNOWLEDGED: {AlarmAction.DISPATCH, AlarmAction.CLOSE},
    AlarmState.DISPATCHED: {AlarmAction.ON_SCENE, AlarmAction.CLOSE},
    AlarmState.ON_SCENE: {AlarmAction.CLOSE},
    AlarmState.CLOSED: set(),
}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(AlarmState, AlarmAction)), ids=str)
def test_alarm_transition_table(state: AlarmState, action: AlarmAction) -> None:
    outcome = AlarmOutcome.FALSE_ALARM if action is AlarmAction.CLOSE else None
    if action in ALARM_EXPECTED[state]:
        step_alarm(state, action, outcome)
        return
    with pytest.raises(TransitionError) as info:
        step_alarm(state, action, outcome)
    allowed = ", ".join(a.value for a in AlarmAction if a in ALARM_EXPECTED[state]) or "none"
    assert str(info.value).endswith(f"allowed from '{state.value}': {allowed}")


def test_alarm_targets_are_the_micro_fire_station_minutes() -> None:
    assert ALARM_TARGETS_S == {"ack": 60.0, "on_scene": 180.0, "close": 300.0}


def test_a_rejected_rectification_past_its_deadline_gets_a_new_one() -> None:
    """Sent back after the deadline: a fresh deadline from the policy, not "overdue" the moment it returns."""
    past = NOW - timedelta(days=1)
    step = step_hazard(
        H.RECTIFIED, A.REJECT, now=NOW, deadline=past, reason="not fixed", default_deadline=DAY30
    )
    assert step.state is H.RECTIFYING
    assert step.deadline == NOW + DAY30
    future = NOW + timedelta(days=3)
    kept = step_hazard(
        H.RECTIFIED, A.REJECT, now=NOW, deadline=future, reason="not fixed", default_deadline=DAY30
    )
    assert kept.deadline == future


WHY = {"zh": "测试", "en": "test"}


def test_grade_rules_must_go_from_the_most_severe_colour_down() -> None:
    from rules.policy import PolicyError, parse_policy

    with pytest.raises(PolicyError, match=r"grade_rules.1: 'red' comes after the milder 'yellow'"):
        parse_policy(
            {
                "extends": "default",
                "grade_rules": [
                    {"colour": "yellow", "count": "yellow_items", "at_least": 3, "why": WHY},
                    {"colour": "red", "count": "red_items", "at_least": 1, "why": WHY},
                ],
            }
        )


# -- re-checks and escalation levels ----------------------------------------------------------------------


def test_a_recheck_is_refused_before_it_is_due_and_says_when() -> None:
    due = NOW + 3 * DAY + timedelta(hours=5)
    with pytest.raises(TransitionError, match=r"due on .* \(3 d 5 h from now\), not before"):
        step_hazard(
            H.CLOSED, A.RECHECK, now=NOW, deadline=None, recheck_due=due, outcome=RecheckOutcome.PASSED
        )
    step = step_hazard(
        H.CLOSED, A.RECHECK, now=due, deadline=None, recheck_due=due, outcome=RecheckOutcome.PASSED
    )
    assert step.state is H.CLOSED


def test_a_recheck_needs_a_schedule_an_outcome_and_for_a_failure_a_reason() -> None:
    with pytest.raises(TransitionError, match="no re-check is scheduled"):
        step_hazard(H.CLOSED, A.RECHECK, now=NOW, deadline=None, outcome=RecheckOutcome.PASSED)
    with pytest.raises(TransitionError, match="needs its outcome"):
        step_hazard(H.CLOSED, A.RECHECK, now=NOW, deadline=None, recheck_due=NOW)
    with pytest.raises(TransitionError, match="what was found"):
        step_hazard(
            H.CLOSED, A.RECHECK, now=NOW, deadline=None, recheck_due=NOW, outcome=RecheckOutcome.FAILED
        )
    with pytest.raises(TransitionError, match="only 'recheck' takes an outcome"):
        step_hazard(H.CLOSED, A.NOTE, now=NOW, deadline=None, outcome=RecheckOutcome.FAILED)


def test_each_escalation_goes_one_level_up_and_stays_at_the_top() -> None:
    assert [escalation_level(n) for n in range(1, 6)] == [
        "street",
        "district",
        "brigade",
        "brigade",
        "brigade",
    ]
    assert escalation_level(2, ("community", "street")) == "street"
    with pytest.raises(ValueError, match="count from 1"):
        escalation_level(0)
