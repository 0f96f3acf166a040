"""China Telecom CTWing push envelope (docs/wire-formats.md section 3), decoder ``ctwing``.

Many NB-IoT detectors never talk to us directly: they report to the carrier platform, which pushes an envelope
(message type, IMEI, platform time) around the vendor's own service data. The envelope is the same for every
vendor but the codes inside are not, so the codes are data: a vendor table in ``vendors/<name>.toml``, or a
custom ``code_field`` + ``codes`` in the subscription options. Supporting a new vendor is adding a table.
"""

from collectors.ctwing.decoder import CtwingDecoder, CtwingOptions
from collectors.ctwing.table import ServiceRule, VendorTable, builtin_vendors, load_vendor_table

__all__ = [
    "CtwingDecoder",
    "CtwingOptions",
    "ServiceRule",
    "VendorTable",
    "builtin_vendors",
    "load_vendor_table",
]
