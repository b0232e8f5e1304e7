"""Flight SQL commands encoded by hand for the raw pyarrow.flight tests.

Written independently of the server's C++ code (only the field numbers of the
protocol are shared), so a wrong field number on either side shows up.
"""

import pyarrow.flight as flight

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."


def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes_field(number, data):
    if isinstance(data, str):
        data = data.encode()
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint_field(number, value):
    return _varint(number << 3) + _varint(value)


def pack_any(type_url, body=b""):
    """A serialized google.protobuf.Any."""
    return _bytes_field(1, type_url) + _bytes_field(2, body)


def pack(message_name, body=b""):
    """A google.protobuf.Any holding `body` as arrow.flight.protocol.sql.<message_name>."""
    return pack_any(TYPE_PREFIX + message_name, body)


def statement_query(sql, transaction_id=None):
    body = _bytes_field(1, sql)
    if transaction_id is not None:
        body += _bytes_field(2, transaction_id)
    return pack("CommandStatementQuery", body)


def statement_update(sql):
    return pack("CommandStatementUpdate", _bytes_field(1, sql))


def get_sql_info(ids=()):
    return pack("CommandGetSqlInfo", b"".join(_varint_field(1, i) for i in ids))


def descriptor(command):
    return flight.FlightDescriptor.for_command(command)


def prepared_statement_query(handle):
    return pack("CommandPreparedStatementQuery", _bytes_field(1, handle))


def prepared_statement_update(handle):
    return pack("CommandPreparedStatementUpdate", _bytes_field(1, handle))


def create_prepared_statement_request(sql, transaction_id=None):
    body = _bytes_field(1, sql)
    if transaction_id is not None:
        body += _bytes_field(2, transaction_id)
    return pack("ActionCreatePreparedStatementRequest", body)


def close_prepared_statement_request(handle):
    return pack("ActionClosePreparedStatementRequest", _bytes_field(1, handle))


def decode_fields(message):
    """{field number: [values]} of a serialized message (varints as ints, the rest as bytes)."""
    fields = {}
    i = 0
    while i < len(message):
        key, i = _read_varint(message, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(message, i)
        elif wire == 2:
            length, i = _read_varint(message, i)
            value = bytes(message[i:i + length])
            i += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        fields.setdefault(field, []).append(value)
    return fields


def unpack(any_bytes, message_name):
    """The body of a serialized Any, checking it holds `message_name`."""
    fields = decode_fields(any_bytes)
    type_url = fields[1][0].decode()
    assert type_url == TYPE_PREFIX + message_name, type_url
    return fields.get(2, [b""])[0]


def decode_varint_field(message, number):
    """The value of varint field `number` in a serialized message (0 if absent)."""
    i = 0
    value = 0
    while i < len(message):
        key, i = _read_varint(message, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(message, i)
            if field == number:
                value = v - (1 << 64) if v >= 1 << 63 else v
        elif wire == 2:
            length, i = _read_varint(message, i)
            i += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return value


def _read_varint(data, i):
    shift = 0
    result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def cancel_flight_info_request(info):
    """A serialized CancelFlightInfoRequest (Flight core) for a pyarrow FlightInfo."""
    return _bytes_field(1, info.serialize())


# CancelFlightInfoResult.status values.
CANCEL_STATUS_CANCELLED = 1
CANCEL_STATUS_NOT_CANCELLABLE = 3
