"""Alarms (火警报警): one open alarm per device; repeats counted on it; handling steps; real fires recorded.

The statements on the device-event path are built once (see ``hazards`` for why).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database, NotFound, new_id
from gateway.store.incidents import insert_fire
from gateway.store.records import (
    AlarmRecord,
    FireRecord,
    TransitionRecord,
    alarm_from_row,
    as_read,
    transitions,
)
from gateway.store.tables import alarm_transitions, alarms
from rules.lifecycle import (
    AlarmAction,
    AlarmOutcome,
    AlarmState,
    ClosingError,
    FalseAlarmCause,
    check_alarm_close,
    step_alarm,
)

_ALARM_BY_ID = select(alarms).where(alarms.c.id == bindparam("match_id"))
_INSERT_ALARM = insert(alarms)
_UPDATE_ALARM = update(alarms).where(alarms.c.id == bindparam("match_id")).returning(*alarms.c)
#: The device's open alarm (at most one), with the columns set given as parameters.
_UPDATE_OPEN_ALARM = (
    update(alarms)
    .where(alarms.c.device_id == bindparam("match_device_id"), alarms.c.closed_at.is_(None))
    .returning(*alarms.c)
)
_COUNT_ALARM_REPEAT = _UPDATE_OPEN_ALARM.values(repeats=alarms.c.repeats + 1)
_INSERT_ALARM_TRANSITION = insert(alarm_transitions)


class AlarmRepository:
    """Alarms from detectors, their handling steps, and the fire a real-fire close records."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def raise_or_repeat(
        self,
        *,
        estate_id: str,
        device_id: str,
        building_id: str,
        floor: int | None,
        location: str,
        raised_at: datetime,
        now: datetime,
        window_id: int | None = None,
    ) -> tuple[AlarmRecord, bool]:
        """Open an alarm for the device, or count a repeat on the one already open (``created=False``).
        ``window_id``: the maintenance window the detector is in (the alarm is shown as a test)."""
        with self._db.tx() as conn:
            params = {"match_device_id": device_id}
            repeated = conn.execute(_COUNT_ALARM_REPEAT, params).mappings().first()
            if repeated is not None:
                return alarm_from_row(repeated), False
            # Every column but the id, so that the record is built from what was written (``_as_read``).
            values = {
                "estate_id": estate_id,
                "device_id": device_id,
                "building_id": building_id,
                "floor": floor,
                "location": location,
                "raised_at": raised_at,
                "received_at": now,
                "state": AlarmState.OPEN.value,
                "outcome": None,
                "repeats": 0,
                "acknowledged_at": None,
                "dispatched_at": None,
                "on_scene_at": None,
                "closed_at": None,
                "device_cleared_at": None,
                "note": "",
                "window_id": window_id,
                "cause": None,
                "cause_text": None,
                "fatal": None,
                "high_impact": None,
            }
            try:
                with self._db.may_violate(conn):
                    alarm_id = new_id(conn.execute(_INSERT_ALARM, values))
            except IntegrityError:  # another gateway on the same store opened it in the meantime: a repeat
                return alarm_from_row(conn.execute(_COUNT_ALARM_REPEAT, params).mappings().one()), False
            self._db.write_history(
                conn,
                _INSERT_ALARM_TRANSITION,
                {
                    "alarm_id": alarm_id,
                    "at": now,
                    "action": "raise",
                    "from_state": None,
                    "to_state": "open",
                    "actor": "device",
                    "note": "",
                    "data": None,
                },
            )
            return alarm_from_row({"id": alarm_id, **as_read(values)}), True

    def cleared_by_device(self, device_id: str, now: datetime) -> AlarmRecord | None:
        """The detector stopped sounding: recorded on the open alarm; only a person closes it."""
        with self._db.tx() as conn:
            params = {"match_device_id": device_id, "device_cleared_at": now}
            row = conn.execute(_UPDATE_OPEN_ALARM, params).mappings().first()
            return None if row is None else alarm_from_row(row)

    def transition(
        self,
        alarm_id: int,
        action: AlarmAction,
        *,
        actor: str,
        now: datetime,
        outcome: AlarmOutcome | None = None,
        note: str = "",
        cause: FalseAlarmCause | None = None,
        cause_text: str = "",
        confirm: bool = False,
        fatal: bool | None = None,
        high_impact: bool | None = None,
    ) -> tuple[AlarmRecord, FireRecord | None]:
        """One alarm step. Closing checks what the outcome needs (``check_alarm_close``: a false alarm's
        cause, a real fire's confirmation and fatal/high-impact answers) before anything is written;
        closing as a real fire also records the fire (it counts toward Y15/R7)."""
        with self._db.tx() as conn:
            current = self._get(conn, alarm_id)
            target = step_alarm(current.state, action, outcome)
            # Checked after the state (an unacknowledged alarm is refused as such), before any write.
            closing = None
            if action is AlarmAction.CLOSE and outcome is not None:
                closing = check_alarm_close(
                    outcome,
                    cause=cause,
                    cause_text=cause_text,
                    confirm=confirm,
                    fatal=fatal,
                    high_impact=high_impact,
                )
            elif cause is not None or cause_text or fatal is not None or high_impact is not None:
                raise ClosingError("'cause', 'cause_text', 'fatal' and 'high_impact' go with 'close' only")
            values: dict[str, Any] = {"state": target.value}
            if closing is not None:
                values["cause"] = None if closing.cause is None else closing.cause.value
                values["cause_text"] = closing.cause_text or None
                values["fatal"] = closing.fatal
                values["high_impact"] = closing.high_impact
            stamp = {
                AlarmAction.ACKNOWLEDGE: "acknowledged_at",
                AlarmAction.DISPATCH: "dispatched_at",
                AlarmAction.ON_SCENE: "on_scene_at",
                AlarmAction.CLOSE: "closed_at",
            }[action]
            values[stamp] = now
            if outcome is not None:
                values["outcome"] = outcome.value
            if note:
                values["note"] = note
            row = conn.execute(_UPDATE_ALARM, {"match_id": alarm_id, **values}).mappings().one()
            self._db.write_history(
                conn,
                _INSERT_ALARM_TRANSITION,
                {
                    "alarm_id": alarm_id,
                    "at": now,
                    "action": action.value,
                    "from_state": current.state.value,
                    "to_state": target.value,
                    "actor": actor,
                    "note": note,
                    "data": closing.data() if closing is not None else None,
                },
            )
            fire = None
            if outcome is AlarmOutcome.REAL_FIRE and closing is not None:
                fire = insert_fire(
                    conn,
                    estate_id=current.estate_id,
                    occurred_at=current.raised_at,
                    fatal=bool(closing.fatal),
                    high_impact=bool(closing.high_impact),
                    description=note or f"confirmed fire, alarm {alarm_id} from {current.device_id}",
                    recorded_by=actor,
                    now=now,
                    alarm_id=alarm_id,
                )
                self._db.announce_change(conn)
            return alarm_from_row(row), fire

    def _get(self, conn: Connection, alarm_id: int) -> AlarmRecord:
        row = conn.execute(_ALARM_BY_ID, {"match_id": alarm_id}).mappings().first()
        if row is None:
            raise NotFound(f"no alarm {alarm_id}")
        return alarm_from_row(row)

    def get(self, alarm_id: int) -> AlarmRecord:
        with self._db.tx() as conn:
            return self._get(conn, alarm_id)

    def history(self, alarm_id: int) -> list[TransitionRecord]:
        with self._db.tx() as conn:
            self._get(conn, alarm_id)
            self._db.flush_history()
            return transitions(conn, alarm_transitions, alarm_transitions.c.alarm_id, alarm_id, "note")

    def find(
        self,
        *,
        estate_ids: Sequence[str] | None = None,
        open_only: bool = False,
        device_id: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AlarmRecord]:
        query = select(alarms)
        if estate_ids is not None:
            query = query.where(alarms.c.estate_id.in_(list(estate_ids)))
        if open_only:
            query = query.where(alarms.c.closed_at.is_(None))
        if device_id is not None:
            query = query.where(alarms.c.device_id == device_id)
        if since is not None:
            query = query.where(alarms.c.received_at >= since)
        with self._db.tx() as conn:
            rows = conn.execute(query.order_by(alarms.c.id.desc()).limit(limit)).mappings()
            return [alarm_from_row(r) for r in rows]
