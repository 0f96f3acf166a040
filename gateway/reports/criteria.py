"""The order printables list a policy's criteria in: red items first, then yellow, then green conditions,
each by number (R3 before R10), so the placard and the monthly report agree."""

from __future__ import annotations


def criterion_order(code: str) -> tuple[int, int, str]:
    """Sort key of a criterion code such as ``R4``, ``Y10`` or ``G7``; unknown letters sort last."""
    letter = {"R": 0, "Y": 1, "G": 2}.get(code[:1], 3)
    return letter, int(code[1:]) if code[1:].isdigit() else 0, code
