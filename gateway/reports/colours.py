"""The fill colour of each grade colour, shared by everything printed: the placard's colour field and the
monthly report's grade chart show an estate's colour in the same red, yellow or green.

The two colours the engine adds to every policy are deliberately not hues a policy uses: ``not_assessed``
(未评定) is a pale neutral, close to blank paper, so that an estate nobody has inspected can never be read as
green (or yellow, or red); ``unknown`` (未知, every device silent) is a mid grey, lighter than a policy's own
``grey`` (the four-colour policy's 停租停用, out of use).
"""

from __future__ import annotations

from rules.policy import NOT_ASSESSED, UNKNOWN

RGB = tuple[int, int, int]

#: Fill colours of the policy colour ids a printable may show, and of the engine's two colours.
COLOUR_RGB: dict[str, RGB] = {
    "red": (214, 39, 40),
    "orange": (240, 128, 0),
    "yellow": (250, 204, 21),
    "green": (22, 150, 72),
    "blue": (29, 99, 200),
    "grey": (107, 114, 128),
    "gray": (107, 114, 128),
    UNKNOWN: (170, 170, 170),
    NOT_ASSESSED: (226, 228, 233),
}
#: A colour id no policy colour above matches.
OTHER_RGB: RGB = (75, 85, 99)
#: The colours that are not a grade: nothing is known to be red, yellow or green (printed without one).
NOT_A_GRADE = frozenset({UNKNOWN, NOT_ASSESSED})


def colour_rgb(colour: str) -> RGB:
    return COLOUR_RGB.get(colour, OTHER_RGB)
