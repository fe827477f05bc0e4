"""JSON decoding on the hot paths: orjson, with the standard library as the reference.

orjson decodes the event payloads of the socket and the lines of a replay several times faster
than ``json``. Where the two could differ in what the event parser reads, the text is decoded
again by the reference decoder, whose result and errors count: anything orjson refuses (a
byte-order mark, lone surrogates, ``NaN``, nesting deeper than it allows) and any float, list
or object among a payload's fields, since orjson turns integers too large for 64 bits into
floats (at any depth) where the reference keeps them exact (or, in python-socketio's, refuses
more than 100 digits).

>>> decode_packet('["setData",{"key":"t","value":"21.5"}]')
['setData', {'key': 't', 'value': '21.5'}]
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from engineio import json as engineio_json

_REFERENCE_TYPES = frozenset({float, list, dict})


def _has_float_field(payload: Any) -> bool:
    # A float, or a container that may hold one (orjson turns integers beyond 64 bits into
    # floats at any depth). Event fields are flat strings, so the fast path stays the rule.
    return type(payload) is dict and not _REFERENCE_TYPES.isdisjoint(map(type, payload.values()))


def decode_record(raw: bytes, first: bool = False) -> Any:
    """A replay line as ``json.loads`` decodes it (a byte-order mark allowed on the first).
    Raises ``json.JSONDecodeError`` or ``UnicodeDecodeError``."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8-sig" if first else "utf-8"))
    if type(record) is dict and _has_float_field(record.get("data")):
        return json.loads(raw)
    return record


def decode_packet(text: str) -> Any:
    """A Socket.IO event's arguments as python-socketio's own decoder reads them (engineio's
    ``json``, which also refuses integers of more than 100 digits)."""
    try:
        packet = orjson.loads(text)
    except orjson.JSONDecodeError:
        return engineio_json.loads(text)
    if type(packet) is list and any(_has_float_field(arg) for arg in packet[1:]):
        return engineio_json.loads(text)
    return packet


class PacketJson:
    """The ``json`` of a python-socketio packet class: :func:`decode_packet` in, the standard
    encoder out (a client sends next to nothing)."""

    loads = staticmethod(decode_packet)
    dumps = staticmethod(json.dumps)
