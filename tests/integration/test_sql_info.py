"""CommandGetSqlInfo is complete: every id the protocol defines has a value of
the type the protocol defines, and the values are Squadron's and DuckDB's."""

import duckdb
import pyarrow.flight as flight

from flightsql import descriptor, get_sql_info

# From the Flight SQL specification: each SqlInfo id and its declared type,
# as the dense union child it must use (0 string, 1 bool, 2 int64, 3 int32 or
# bitmask, 4 string list, 5 int32 -> list<int32> map).
STRING, BOOL, INT64, INT32, STRING_LIST, MAP = 0, 1, 2, 3, 4, 5
SPEC = {
    0: STRING, 1: STRING, 2: STRING, 3: BOOL, 4: BOOL, 5: BOOL, 6: STRING, 7: STRING, 8: INT32, 9: BOOL,
    10: BOOL, 11: BOOL, 100: INT32, 101: INT32,
    500: BOOL, 501: BOOL, 502: BOOL, 503: INT32, 504: STRING, 505: INT32, 506: BOOL, 507: INT32,
    508: STRING_LIST, 509: STRING_LIST, 510: STRING_LIST, 511: STRING_LIST, 512: STRING_LIST,
    513: STRING, 514: STRING, 515: BOOL, 516: BOOL, 517: MAP, 518: BOOL, 519: BOOL, 520: BOOL, 521: BOOL,
    522: INT32, 523: BOOL, 524: BOOL, 525: INT32, 526: INT32, 527: BOOL, 528: INT32, 529: STRING,
    530: STRING, 531: STRING, 532: BOOL, 533: INT32, 534: INT32, 535: INT32, 536: BOOL, 537: BOOL,
    538: INT32, 539: BOOL, 540: INT32,
    **{i: INT64 for i in range(541, 556)}, 556: BOOL, 557: INT64, 558: INT64, 559: INT64, 560: INT64,
    # 562 is declared int32, but the Flight SQL JDBC driver reads it as int64 (as
    # Arrow Java's servers send it); Squadron follows the driver.
    561: INT64, 562: INT64, 563: BOOL, 564: INT32, 565: BOOL, 566: BOOL, 567: INT32, 568: INT32, 569: INT32,
    570: INT32, 571: INT32, 572: BOOL, 573: BOOL, 574: BOOL, 575: BOOL, 576: BOOL,
}


def sql_info(server, ids=()):
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(get_sql_info(ids)))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    union = table.column("value").chunk(0)
    names = table.column("info_name").to_pylist()
    return {name: (union.type_codes[i].as_py(), union[i].as_py()) for i, name in enumerate(names)}


def test_every_id_has_a_value_of_the_declared_type(server):
    values = sql_info(server)
    missing = sorted(set(SPEC) - set(values))
    assert not missing, f"SqlInfo ids without a value: {missing}"
    wrong = {i: (values[i][0], kind) for i, kind in SPEC.items() if values[i][0] != kind}
    assert not wrong, f"(got, declared) union child per id: {wrong}"


def test_dialect_values_come_from_duckdb(server):
    values = {i: v for i, (_, v) in sql_info(server).items()}
    reference = duckdb.connect()
    keywords = [r[0] for r in reference.execute(
        "SELECT DISTINCT upper(keyword_name) FROM duckdb_keywords() ORDER BY 1").fetchall()]
    assert values[508] == keywords
    assert {"ABS", "ROUND", "SQRT"} <= set(values[509])
    assert {"LOWER", "UPPER", "REGEXP_MATCHES"} <= set(values[510])
    assert {"CURRENT_DATABASE", "VERSION"} <= set(values[511])
    assert {"DATE_TRUNC", "STRFTIME"} <= set(values[512])
    assert set(values[509]).isdisjoint({"LOWER", "DATE_TRUNC"})
    convert = dict(values[517])
    varchar, date, bigint, timestamp = 19, 4, 0, 16
    assert date in convert[varchar] and varchar in convert[date]
    assert bigint not in convert[date] and date in convert[timestamp]
    assert values[504] == '"' and values[513] == "\\"
    assert values[8] == 1 and values[573] is False and values[563] is True
    assert values[507] == 3  # NULLs sorted at end
    assert values[528] == 0b110  # limited and full outer joins, as the JDBC driver reads it (a bitmask)
    assert values[0] == "Squadron" and "duckdb" in values[1]


def test_requesting_some_ids(server):
    values = sql_info(server, [504, 8, 99999])
    assert set(values) == {504, 8}
