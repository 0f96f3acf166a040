"""The monthly report of a district or a property company: its figures from the hazard store, printed
as PDF, XLSX or CSV.

Where a change goes:

- ``model``: what a report holds (``MonthlyReport`` and its rows), the formats and media types, the errors.
- ``scope``: which estates (district, company, the caller's scope) and which month and days it covers.
- ``queries``: every read of the hazard store (the only module that knows its tables).
- ``figures``: ``build_monthly_report``, the arithmetic of the figures and their definitions.
- ``facilities``: the facility intact rate (facility-hours intact ÷ monitored, monitoring faults left out).
- ``render``: ``render_report``, one entry point for the formats below.
- ``text``: what every format prints alike: title, period, key-figure labels, outcome names, definitions.
- ``csv_table``, ``xlsx``, ``pdf`` (with ``pdf_charts`` and ``pdf_style``): one module per format.

docs/reports.md has the definitions.
"""
