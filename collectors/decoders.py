"""The decoder table: every decoder name a subscription may give, and the decoder it makes.

Decoders do not register themselves. This table imports each decoder folder, and the folders import only the
contract (``collectors.base``) and the JSON helpers, so dependencies run one way and no decoder needs to be
imported for its side effects. Adding a device vendor is adding a folder ``collectors/<name>/`` with its
decoder and one line in ``DECODERS`` below; its key is the name the configuration and the dead letters use,
and the same as the decoder's ``name``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from collectors.base import Decoder
from collectors.camera import CameraEventDecoder
from collectors.ctwing import CtwingDecoder
from collectors.gbt45839 import Gbt45839Decoder
from collectors.hydrant_json import HydrantJsonDecoder
from collectors.smoke_json import SmokeJsonDecoder

#: Builds a decoder from its subscription's options, validating them (a bad key fails at start-up).
DecoderFactory = Callable[[Mapping[str, Any]], Decoder]

#: Decoder name in configuration -> its factory.
DECODERS: Mapping[str, DecoderFactory] = {
    "camera_event": CameraEventDecoder,
    "ctwing": CtwingDecoder,
    "gbt45839_status": Gbt45839Decoder,
    "hydrant_json": HydrantJsonDecoder,
    "smoke_json": SmokeJsonDecoder,
}


def decoder_names() -> list[str]:
    """The names a subscription's ``decoder`` may take, sorted."""
    return sorted(DECODERS)


def make_decoder(name: str, options: Mapping[str, Any] | None = None) -> Decoder:
    """A new decoder of ``name`` with ``options``; ValueError naming the known decoders if there is none."""
    try:
        factory = DECODERS[name]
    except KeyError:
        known = ", ".join(sorted(DECODERS))
        raise ValueError(f"unknown decoder {name!r}; known decoders: {known}") from None
    return factory(options or {})
