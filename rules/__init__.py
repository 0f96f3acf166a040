"""Pure rule logic: device state -> hazard signals -> estate grade (the rule layer comes with its own issue).

Nothing here does I/O or reads the clock: time and data arrive as arguments.
"""
