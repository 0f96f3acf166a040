"""The fill colour of each grade colour, shared by everything printed: the placard's colour field and the
monthly report's grade chart show an estate's colour in the same red, yellow or green."""

from __future__ import annotations

from rules.policy import UNKNOWN

RGB = tuple[int, int, int]

#: Fill colours of the policy colour ids a printable may show; unknown is a lighter grey than a "grey" grade.
COLOUR_RGB: dict[str, RGB] = {
    "red": (214, 39, 40),
    "orange": (240, 128, 0),
    "yellow": (250, 204, 21),
    "green": (22, 150, 72),
    "blue": (29, 99, 200),
    "grey": (107, 114, 128),
    "gray": (107, 114, 128),
    UNKNOWN: (170, 170, 170),
}
#: A colour id no policy colour above matches.
OTHER_RGB: RGB = (75, 85, 99)


def colour_rgb(colour: str) -> RGB:
    return COLOUR_RGB.get(colour, OTHER_RGB)
