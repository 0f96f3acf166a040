"""A hazard's or an alarm's history lines, in Chinese and English, from what each transition recorded.

The store keeps each transition's ``reason`` as it was written (the audit trail: a person's own words, or the
gateway's English sentence such as "device rule evacuation_blocked became active" or "overdue by 3 d 4 h;
escalated to the street (escalation #1)") and its ``data`` (an escalation's level, a re-check's outcome, the
deadline, the party, the evidence). The UI shows ``transition_text``: the gateway's own sentences rebuilt in
the reader's language from that record, a person's words as they wrote them, and the data as labelled
parts. Records written by older versions read the same way: the sentences are recognised by their shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rules.lifecycle import FALSE_ALARM_CAUSE_ZH
from rules.texts import signal_name

#: Who an escalation goes to (rules/lifecycle.py ``EscalationLevel``).
LEVEL_NAMES: dict[str, tuple[str, str]] = {
    "community": ("社区", "the community"),
    "street": ("街道办", "the street office"),
    "district": ("区级", "the district"),
    "brigade": ("消防救援大队", "the fire brigade"),
}
#: Who did it, when it was not a person.
ACTOR_NAMES: dict[str, tuple[str, str]] = {
    "system": ("系统", "system"),
    "device": ("设备", "device"),
    "registry": ("设备登记表", "device registry"),
}
FALSE_ALARM_CAUSE_EN: dict[str, str] = {
    "cooking_smoke": "cooking smoke",
    "steam": "steam",
    "dust": "dust",
    "insects": "insects",
    "device_fault": "device fault",
    "test": "test",
    "other": "other",
}

Text = dict[str, str]


def _pair(zh: str, en: str) -> Text:
    return {"zh": zh, "en": en}


def _level(level: object) -> tuple[str, str]:
    return LEVEL_NAMES.get(str(level), (str(level), str(level)))


def _seconds(seconds: int, language: str) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} 小时" if language == "zh" else f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} 分钟" if language == "zh" else f"{seconds // 60} min"
    return f"{seconds} 秒" if language == "zh" else f"{seconds} s"


def _became_active(m: re.Match[str], signal: str) -> Text:
    name = m.group(1)
    return _pair(
        f"设备规则触发：{signal_name(name, 'zh')}", f"device rule triggered: {signal_name(name, 'en')}"
    )


def _recovered(m: re.Match[str], signal: str) -> Text:
    held = int(m.group(1)) if m.group(1) else 0
    zh_held = f"，并持续正常 {_seconds(held, 'zh')}" if held else ""
    en_held = f" and stayed healthy for {_seconds(held, 'en')}" if held else ""
    what_zh = f"（{signal_name(signal, 'zh')}已消除）" if signal else ""
    what_en = f" ({signal_name(signal, 'en')} cleared)" if signal else ""
    return _pair(
        f"设备恢复正常{what_zh}{zh_held}，自动销号",
        f"device recovered{what_en}{en_held}; closed automatically",
    )


def _retired(m: re.Match[str], signal: str) -> Text:
    name = m.group(1)
    return _pair(
        f"规则“{signal_name(name, 'zh')}”在本版本中停用（一个问题只保留一条隐患），自动销号",
        f"rule '{signal_name(name, 'en')}' retired in this version (one problem, one hazard); "
        "closed automatically",
    )


def _recheck_failed(m: re.Match[str], signal: str) -> Text:
    n, why = m.group(1), m.group(2)
    return _pair(f"隐患 #{n} 回头看未通过：{why}", f"re-check of hazard #{n} failed: {why}")


def _back_to_party(m: re.Match[str], signal: str) -> Text:
    n = m.group(1)
    return _pair(f"派回整改过隐患 #{n} 的责任单位", f"back to the party that rectified hazard #{n}")


def _overdue(m: re.Match[str], signal: str) -> Text:
    days, hours = int(m.group(1)), int(m.group(2))
    return _pair(f"逾期 {days} 天 {hours} 小时", f"overdue by {days} d {hours} h")


def _red_item(m: re.Match[str], signal: str) -> Text:
    code = m.group(1)
    return _pair(f"红色项 {code}：须立即采取措施", f"red item {code}: immediate measures")


#: The gateway's own sentences (rules/casework and the store write them in English), by their shape.
_SENTENCES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], str], Text]], ...] = (
    (re.compile(r"^device rule (\S+) became active$"), _became_active),
    (
        re.compile(r"^device recovered \(.*\)(?: and stayed healthy for (\d+) s)?; closed automatically$"),
        _recovered,
    ),
    (re.compile(r"^rule (\S+) retired in this version"), _retired),
    (re.compile(r"^re-check of hazard #(\d+) failed: (.*)$", re.S), _recheck_failed),
    (re.compile(r"^back to the party that rectified hazard #(\d+)$"), _back_to_party),
    (re.compile(r"^overdue by (\d+) d (\d+) h"), _overdue),
    (re.compile(r"^red item (\S+): immediate measures"), _red_item),
)
_FIXED: dict[tuple[str, str], Text] = {
    ("report", "filed"): _pair("人工上报", "filed by a person"),
    ("raise", ""): _pair("探测器报警", "the detector raised the alarm"),
    # A party the registry made (gateway/store/parties.py).
    ("create", "the estates' property company in the device registry"): _pair(
        "设备登记表中小区的物业公司", "the estates' property company in the device registry"
    ),
    ("update", "the estates' property company in the device registry"): _pair(
        "设备登记表中小区的物业公司", "the estates' property company in the device registry"
    ),
}


def _reason(action: str, reason: str, signal: str) -> Text:
    """The reason in both languages: the gateway's sentences translated, a person's words as written."""
    fixed = _FIXED.get((action, reason.strip()))
    if fixed is not None:
        return fixed
    for pattern, build in _SENTENCES:
        match = pattern.search(reason)
        if match is not None:
            return build(match, signal)
    return _pair(reason, reason)


def _local(iso: object, timezone: str) -> str:
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def _yes_no(value: object, language: str) -> str:
    if language == "zh":
        return "是" if value else "否"
    return "yes" if value else "no"


def _data_parts(action: str, data: Mapping[str, Any], timezone: str) -> list[Text]:
    """What the transition recorded beside its reason, as labelled parts."""
    parts: list[Text] = []
    if action == "escalate" and "level" in data:
        zh, en = _level(data["level"])
        n = data.get("escalation")
        parts.append(
            _pair(
                f"升级至{zh}督办" + (f"（第 {n} 次）" if n else ""),
                f"escalated to {en}" + (f" (escalation #{n})" if n else ""),
            )
        )
    if "outcome" in data:
        passed = data["outcome"] == "passed"
        parts.append(
            _pair(
                "回头看：通过" if passed else "回头看：未通过",
                "re-check passed" if passed else "re-check failed",
            )
        )
    if data.get("reopened_as"):
        n = data["reopened_as"]
        parts.append(_pair(f"已重新立案为隐患 #{n}", f"reopened as hazard #{n}"))
    if data.get("responsible"):
        who = str(data["responsible"])
        parts.append(_pair(f"责任单位：{who}", f"responsible party: {who}"))
    if data.get("deadline"):
        when = _local(data["deadline"], timezone)
        parts.append(_pair(f"整改期限：{when}", f"deadline: {when}"))
    if data.get("evidence"):
        what = str(data["evidence"])
        parts.append(_pair(f"整改凭证：{what}", f"evidence: {what}"))
    if data.get("photo"):
        parts.append(_pair("附照片", "photo attached"))
    if data.get("cause"):
        cause = str(data["cause"])
        text = str(data.get("cause_text") or "")
        zh = FALSE_ALARM_CAUSE_ZH.get(cause, cause) + (f"（{text}）" if text else "")
        en = FALSE_ALARM_CAUSE_EN.get(cause, cause) + (f" ({text})" if text else "")
        parts.append(_pair(f"误报原因：{zh}", f"cause of the false alarm: {en}"))
    if data.get("fatal") is not None:
        parts.append(
            _pair(f"亡人火灾：{_yes_no(data['fatal'], 'zh')}", f"fatal: {_yes_no(data['fatal'], 'en')}")
        )
    if data.get("high_impact") is not None:
        value = data["high_impact"]
        parts.append(_pair(f"较大影响：{_yes_no(value, 'zh')}", f"high impact: {_yes_no(value, 'en')}"))
    return parts


def transition_text(
    action: str,
    reason: str,
    data: Mapping[str, Any] | None,
    *,
    signal: str = "",
    timezone: str = "Asia/Shanghai",
) -> Text:
    """One history line, ``{"zh": ..., "en": ...}``: the reason, then what the transition recorded.

    ``signal``: the hazard's device signal, if any (an automatic closing names what cleared)."""
    parts = [_reason(action, reason or "", signal), *_data_parts(action, data or {}, timezone)]
    parts = [p for p in parts if p["zh"] or p["en"]]
    return _pair("；".join(p["zh"] for p in parts), "; ".join(p["en"] for p in parts))


def actor_text(actor: str) -> Text:
    """``系统`` for the gateway's own steps; a person's name as it is."""
    zh, en = ACTOR_NAMES.get(actor, (actor, actor))
    return _pair(zh, en)
