"""Printables from the hazard store: the estate placard (``placard``) and the monthly report (the
``monthly`` package: its figures, and one module per output format); ``colours`` and ``criteria`` are what
both print alike, ``fonts`` finds a CJK font, ``cli`` adds ``firegw placard`` and ``firegw report``.
docs/reports.md has the definitions."""
