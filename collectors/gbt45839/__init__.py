"""GB/T 45839-2025 appendix D status message (docs/wire-formats.md section 2): ``gbt45839_status``.

The national standard for networked NB-IoT smoke alarms defines one JSON status message that every compliant
platform can send, so supporting it covers detectors from any vendor that follows the standard. Its
``datetime`` is China Standard Time without an offset: it is converted to UTC here, at the edge, and nowhere
else.
"""

from collectors.gbt45839.decoder import Gbt45839Decoder, Gbt45839Options

__all__ = ["Gbt45839Decoder", "Gbt45839Options"]
