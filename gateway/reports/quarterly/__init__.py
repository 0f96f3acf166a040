"""The quarterly assessment of property companies (物业企业季度考核, seed 001 §(二)7; domain.md "Assessment of
property companies"): per company, its rectification rate, facility intact rate, overdue and escalated
hazards and alarm response, ranked within each street and district, against the previous quarter.

Where a change goes:

- ``period``: which quarter (``2026Q4``) and the one before it.
- ``model``: what the report holds (``QuarterlyReport``, ``QuarterFigures``) and its JSON-ready form.
- ``queries``: the reads of the store the monthly report's ``queries`` do not already make.
- ``tally``: the figures and their definitions, counted per estate and added up for any set of estates.
- ``ranking``: the order companies are ranked in, ties, and the change against the previous quarter.
- ``build``: ``build_quarterly_report``, the estates in scope and the rankings per street and district.
- ``text``: titles, the ranking order and the definitions every form prints alike; ``as_json``.
- ``render`` (JSON), ``pdf`` and ``xlsx``: the forms, in the monthly report's style (its fonts, PDF styles,
  charts and sheet helpers).

docs/reports.md has the definitions.
"""
