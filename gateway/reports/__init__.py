"""Printables from the hazard store: the estate placard (``placard``) and the monthly report (``monthly`` for
the figures, ``monthly_output`` for PDF/XLSX/CSV); ``fonts`` finds a CJK font; ``cli`` adds ``firegw placard``
and ``firegw report``. docs/reports.md has the definitions."""
