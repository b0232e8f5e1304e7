"""Flight SQL commands encoded by hand for the raw pyarrow.flight tests.

Written independently of the server's C++ code (only the field numbers of the
protocol are shared), so a wrong field number on either side shows up.
"""

import pyarrow as pa
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


def statement_update(sql, transaction_id=None):
    body = _bytes_field(1, sql)
    if transaction_id is not None:
        body += _bytes_field(2, transaction_id)
    return pack("CommandStatementUpdate", body)


# TableDefinitionOptions values.
IF_NOT_EXIST_CREATE = 1
IF_NOT_EXIST_FAIL = 2
IF_EXISTS_FAIL = 1
IF_EXISTS_APPEND = 2
IF_EXISTS_REPLACE = 3


def statement_ingest(table, if_not_exist=IF_NOT_EXIST_CREATE, if_exists=IF_EXISTS_FAIL, schema=None,
                     catalog=None, temporary=False, transaction_id=None):
    body = _bytes_field(1, _varint_field(1, if_not_exist) + _varint_field(2, if_exists))
    body += _bytes_field(2, table)
    if schema is not None:
        body += _bytes_field(3, schema)
    if catalog is not None:
        body += _bytes_field(4, catalog)
    if temporary:
        body += _varint_field(5, 1)
    if transaction_id is not None:
        body += _bytes_field(6, transaction_id)
    return pack("CommandStatementIngest", body)


def get_catalogs():
    return pack("CommandGetCatalogs")


def get_db_schemas(catalog=None, schema_pattern=None):
    body = b""
    if catalog is not None:
        body += _bytes_field(1, catalog)
    if schema_pattern is not None:
        body += _bytes_field(2, schema_pattern)
    return pack("CommandGetDbSchemas", body)


def get_tables(catalog=None, schema_pattern=None, table_pattern=None, table_types=(), include_schema=False):
    body = b""
    if catalog is not None:
        body += _bytes_field(1, catalog)
    if schema_pattern is not None:
        body += _bytes_field(2, schema_pattern)
    if table_pattern is not None:
        body += _bytes_field(3, table_pattern)
    for table_type in table_types:
        body += _bytes_field(4, table_type)
    if include_schema:
        body += _varint_field(5, 1)
    return pack("CommandGetTables", body)


def _table_ref(table, catalog=None, schema=None):
    body = b""
    if catalog is not None:
        body += _bytes_field(1, catalog)
    if schema is not None:
        body += _bytes_field(2, schema)
    return body + _bytes_field(3, table)


def get_primary_keys(table, catalog=None, schema=None):
    return pack("CommandGetPrimaryKeys", _table_ref(table, catalog, schema))


def get_exported_keys(table, catalog=None, schema=None):
    return pack("CommandGetExportedKeys", _table_ref(table, catalog, schema))


def get_imported_keys(table, catalog=None, schema=None):
    return pack("CommandGetImportedKeys", _table_ref(table, catalog, schema))


def get_cross_reference(pk_table, fk_table, pk_schema=None, fk_schema=None):
    body = b""
    if pk_schema is not None:
        body += _bytes_field(2, pk_schema)
    body += _bytes_field(3, pk_table)
    if fk_schema is not None:
        body += _bytes_field(5, fk_schema)
    return pack("CommandGetCrossReference", body + _bytes_field(6, fk_table))


def get_xdbc_type_info(data_type=None):
    body = b"" if data_type is None else _varint_field(1, data_type)
    return pack("CommandGetXdbcTypeInfo", body)


def get_table_types():
    return pack("CommandGetTableTypes")


def begin_transaction_request():
    return pack("ActionBeginTransactionRequest")


COMMIT = 1
ROLLBACK = 2


def end_transaction_request(transaction_id, action):
    return pack("ActionEndTransactionRequest",
                _bytes_field(1, transaction_id) + _varint_field(2, action))


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


def put(client, command, batches=(), schema=None):
    """DoPut `batches` under `command`; returns the PutResult's app_metadata bytes."""
    if schema is None:
        schema = batches[0].schema if batches else pa.schema([])
    writer, reader = client.do_put(descriptor(command), schema)
    for batch in batches:
        writer.write_batch(batch)
    writer.done_writing()
    metadata = reader.read()
    writer.close()
    return metadata.to_pybytes()


def put_count(client, command, batches=(), schema=None):
    """DoPut, then the record_count of the DoPutUpdateResult answer."""
    return decode_varint_field(put(client, command, batches, schema), 1)


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


def cancel_query_request(info):
    """The deprecated ActionCancelQueryRequest (packed in Any) for a pyarrow FlightInfo."""
    return pack("ActionCancelQueryRequest", _bytes_field(1, info.serialize()))


# CancelFlightInfoResult.status values.
CANCEL_STATUS_CANCELLED = 1
CANCEL_STATUS_NOT_CANCELLABLE = 3


# --- Flight core session actions (Flight.proto messages, not packed in Any) ---

def _double_field(number, value):
    import struct
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def _session_option_value(value):
    import struct
    if value is None:
        return b""
    if isinstance(value, bool):
        return _varint_field(2, int(value))
    if isinstance(value, int):
        return _varint(3 << 3 | 1) + struct.pack("<q", value)
    if isinstance(value, float):
        return _double_field(4, value)
    if isinstance(value, str):
        return _bytes_field(1, value)
    return _bytes_field(5, b"".join(_bytes_field(1, v) for v in value))


def set_session_options_request(options):
    """SetSessionOptionsRequest for {name: str | bool | int | float | list[str] | None}."""
    return b"".join(
        _bytes_field(1, _bytes_field(1, name) + _bytes_field(2, _session_option_value(value)))
        for name, value in options.items())


def _decode_session_option_value(data):
    import struct
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 1:
            raw = data[i:i + 8]
            i += 8
            return struct.unpack("<d" if field == 4 else "<q", raw)[0]
        if wire == 0:
            v, i = _read_varint(data, i)
            return bool(v)
        length, i = _read_varint(data, i)
        value = bytes(data[i:i + length])
        i += length
        if field == 1:
            return value.decode()
        return [v.decode() for v in decode_fields(value).get(1, [])]
    return None


def decode_session_options(result):
    """{name: value} of a GetSessionOptionsResult."""
    options = {}
    for entry in decode_fields(result).get(1, []):
        fields = decode_fields(entry)
        options[fields[1][0].decode()] = _decode_session_option_value(fields.get(2, [b""])[0])
    return options


def decode_session_option_errors(result):
    """{name: ErrorValue} of a SetSessionOptionsResult (1 invalid name, 2 invalid value)."""
    errors = {}
    for entry in decode_fields(result).get(1, []):
        fields = decode_fields(entry)
        error = decode_fields(fields.get(2, [b""])[0])
        errors[fields[1][0].decode()] = error.get(1, [0])[0]
    return errors


INVALID_NAME = 1
INVALID_VALUE = 2
CLOSE_SESSION_CLOSED = 1


class CookieJar(flight.ClientMiddlewareFactory):
    """Keeps the cookies a server sets and sends them back, as browsers do."""

    def __init__(self):
        self.cookies = {}

    def start_call(self, info):
        return _CookieMiddleware(self)


class _CookieMiddleware(flight.ClientMiddleware):
    def __init__(self, jar):
        self.jar = jar

    def sending_headers(self):
        if not self.jar.cookies:
            return {}
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.jar.cookies.items())}

    def received_headers(self, headers):
        for value in headers.get("set-cookie", []):
            name, _, rest = value.partition("=")
            self.jar.cookies[name.strip()] = rest.split(";")[0].strip()
