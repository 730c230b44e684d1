"""JSON responses: DRF's JSONRenderer, encoded by orjson.

A cache-stats answer carries a few thousand values (90 days of figures): DRF's
encoder took about a millisecond over them, a tenth of the request, and orjson
takes a tenth of that. The bytes mean the same: compact UTF-8, and whatever
orjson does not encode itself (datetimes, which DRF writes with `Z` for UTC;
Decimals, lazy strings, querysets) goes through DRF's own encoder. Indented JSON
(`Accept: application/json; indent=2`) is left to DRF.
"""

from __future__ import annotations

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

# What orjson writes itself is what DRF's encoder writes too, but datetimes: DRF's write UTC as `Z`.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_drf_default = JSONEncoder().default


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        encoded = orjson.dumps(data, default=_drf_default, option=_OPTIONS)
        # As DRF does: the two line separators JSON allows raw but JavaScript source does not, escaped.
        return encoded.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
