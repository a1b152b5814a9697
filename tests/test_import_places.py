"""Every import problem is placed in its file (issue 12, imports; issue 16: at the value itself): YAML
by the line and column of the value or key at fault (records, the file's shape, syntax and
encoding), CSV by the physical line of the row it comes from and the column of its field (a bucket's
problems by its own row; blank lines and quoted line breaks counted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.importer import CSV_FIELDS, ImportFailed, read_subscribers
from accounts.policy import load_policy
from accounts.yamldata import load_plain, places

HERE = Path(__file__).parent
FIXTURES = HERE / "accounts"
TZ = load_policy().tz
HEADER = ",".join(CSV_FIELDS)
ROW = "2250711111111,active,Mix,prepaid,fr,1250,2027-01-31T23:59:59,,"
RECORD = '{{msisdn: "{}", status: {}, offer: {{name: M, type: prepaid}}, main: {{balance: 1, expires: "2027-01-01"}}}}'


STATUS = "unknown status 'activ' (did you mean 'active'?); expected one of: active, inactive, deactivated"
AMOUNT = "expected a whole number from 0 to 1000000000000000"


def problems(path: Path) -> list[tuple[int, int, str]]:
    """Line, column and message of each problem of the file at ``path``, in file order."""
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(path, TZ)
    assert {d.where.path for d in caught.value.diagnostics} == {str(path)}
    return [(d.where.line, d.where.column, d.message) for d in caught.value.diagnostics]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- YAML ------------------------------------------------------------------------------------------


def test_yaml_problems_are_placed_at_the_value() -> None:
    assert problems(FIXTURES / "two_bad.yaml") == [
        (9, 13, f"subscribers[1] 2250755555555: {STATUS}"),  # the status
        (17, 66, f"subscribers[2] 2250766666666: buckets[0].amount: {AMOUNT}, not '-5'"),  # the amount in the bucket
    ]


def test_records_on_one_line_are_told_apart_by_their_column(tmp_path: Path) -> None:
    text = f"subscribers: [{RECORD.format('2250701020304', 'activ')}, {RECORD.format('2250701020305', 'activ')}]\n"
    first, second = text.index("activ"), text.rindex("activ")
    assert problems(write(tmp_path, "flow.yaml", text)) == [
        (1, first + 1, f"subscribers[0] 2250701020304: {STATUS}"),
        (1, second + 1, f"subscribers[1] 2250701020305: {STATUS}")]


def test_a_key_is_placed_at_itself(tmp_path: Path) -> None:
    text = "subscribers:\n  - msisdn: '2250701020304'\n    statu: active\n"
    assert problems(write(tmp_path, "key.yaml", text))[-1] == (
        3, 5, "subscribers[0] 2250701020304: unknown key 'statu' (did you mean 'status'?); expected one of: msisdn, "
              "status, offer, language, main, favourites, buckets, usage, invoices, internet_plus, duplicates")


def test_a_value_an_alias_gives_is_placed_at_the_alias(tmp_path: Path) -> None:
    """Its problem is this record's, where the record uses it (the anchored node may be fine where it is)."""
    text = ("subscribers:\n"
            "  - {msisdn: '2250701020304', status: active, offer: &o {name: M, type: prepaid},\n"
            "     main: {balance: 1, expires: '2027-01-01'}}\n"
            "  - {msisdn: '2250701020305', status: active, offer: {name: M, type: prepaid}, main: *o}\n")
    alias = text.splitlines()[3].index("*o") + 1
    assert problems(write(tmp_path, "alias.yaml", text)) == [
        (4, alias, "subscribers[1] 2250701020305: main: missing 'balance' (in F CFA)"),
        (4, alias, "subscribers[1] 2250701020305: main: missing 'expires' (when the main account expires)"),
        (4, alias, "subscribers[1] 2250701020305: main: unknown key 'name'; expected one of: balance, expires"),
        (4, alias, "subscribers[1] 2250701020305: main: unknown key 'type'; expected one of: balance, expires"),
    ]


@pytest.mark.parametrize("text,expected", [
    ("", (1, 1, "file: expected a mapping with a 'subscribers' list, found nothing (null)")),
    ("\n\n- a\n- b\n", (3, 1, "file: expected a mapping with a 'subscribers' list, found a list")),
    ("# none yet\nother: 1\n", (2, 1, "file: unknown key 'other'; expected one of: subscribers")),
    ("# x\n  subscribers: {a: 1}\n", (2, 16, "subscribers: expected a list of subscribers, found a mapping")),
    ("subscribers:\n", (1, 13, "subscribers: expected a list of subscribers, found nothing (null)")),
])
def test_the_files_shape_is_placed(tmp_path: Path, text: str, expected: tuple[int, int, str]) -> None:
    assert problems(write(tmp_path, "shape.yaml", text))[-1] == expected


@pytest.mark.parametrize("data,where,message", [
    (b"subscribers:\n  - status: \x00\n", (2, 13), "YAML syntax: control characters are not allowed (#x0)"),
    (b"subscribers:\n  - status: act\xffive\n", (2, 16), "YAML syntax: invalid leading UTF-8 octet (#xFF)"),
    ("subscribers:\n  - name: \u00e9\u00e9\x07\n".encode(), (2, 13),
     "YAML syntax: control characters are not allowed (#x7)"),
])
def test_yaml_text_that_cannot_be_read_is_placed(tmp_path: Path, data: bytes, where: tuple[int, int],
                                                 message: str) -> None:
    assert problems(write(tmp_path, "bytes.yaml", data)) == [(*where, message)]


def test_places_are_found_for_the_parts_asked_for_only() -> None:
    """The second pass keeps the places of the root, its keys and their values, and of everything
    inside the paths asked for: an alias's value at the alias, nothing inside it."""
    text = ("# c\nsubscribers:\n  - msisdn: &x '2'\n    ~: 3\n    offer: {name: n}\n"
            "  - {msisdn: '1', buckets: [{a: 1}, *x]}\nother: [1]\n")
    load_plain(text)  # a document that reads
    found = places(text, {("subscribers", 1)})
    assert found.values == {
        (): (2, 1), ("subscribers",): (3, 3), ("other",): (7, 8),
        ("subscribers", 1): (6, 5), ("subscribers", 1, "msisdn"): (6, 14), ("subscribers", 1, "buckets"): (6, 28),
        ("subscribers", 1, "buckets", 0): (6, 29), ("subscribers", 1, "buckets", 0, "a"): (6, 33),
        ("subscribers", 1, "buckets", 1): (6, 37),
    }
    assert found.keys == {("subscribers",): (2, 1), ("other",): (7, 1), ("subscribers", 1, "msisdn"): (6, 6),
                          ("subscribers", 1, "buckets"): (6, 19), ("subscribers", 1, "buckets", 0, "a"): (6, 30)}
    assert places(text, {("subscribers", 0)}).keys[("subscribers", 0, None)] == (4, 5)  # ~ as a key


# -- CSV -------------------------------------------------------------------------------------------


def column(line: str, field: int) -> int:
    """The column (1-based) field ``field`` (0-based) of an unquoted CSV line starts at."""
    return len(",".join(line.split(",")[:field])) + (1 if field == 0 else 2)


def test_a_csv_bucket_problem_is_placed_at_its_own_row_and_field(tmp_path: Path) -> None:
    text = (HEADER + "\n" + ROW + "credit,monthly,intra,,500,,2026-11-30T23:59:59\n"
            + ROW + "credit,monthly,intra,,-5,,2026-11-30T23:59:59\n")
    third = text.splitlines()[2]
    assert problems(write(tmp_path, "b.csv", text)) == [
        (3, column(third, CSV_FIELDS.index("amount")), f"subscribers[0] 2250711111111: buckets[1].amount: {AMOUNT}, "
                                                       "not '-5'")]


def test_csv_lines_count_blank_lines_and_line_breaks_in_fields(tmp_path: Path) -> None:
    favourites = "2250722222222;2250733333333"
    text = (HEADER + "\n\n"  # line 2 is blank; the first row's favourites take lines 3 and 4
            + ROW.replace("59,,", '59,"' + favourites.replace(";", "\r\n") + '",')
            + "credit,monthly,intra,,500,,2026-11-30T23:59:59\n"
            "\n\n" + ROW.replace("59,,", f"59,{favourites},").replace(",Mix,", ",Max,")
            + "credit,monthly,intra,,-5,,2026-11-30T23:59:59\n"
            + ROW.replace("2250711111111,active", "2250711111112,activ") + ",,,,,,\n")
    lines = text.splitlines()
    assert lines[6].startswith("2250711111111,active,Max") and lines[7].startswith("2250711111112,activ")
    assert problems(write(tmp_path, "nl.csv", text)) == [
        (7, column(lines[6], 2), "subscribers[0] 2250711111111: offer_name: 'Max' differs from 'Mix' on line 3: "
                                 "the rows of a subscriber repeat its columns"),
        (7, column(lines[6], CSV_FIELDS.index("amount")), f"subscribers[0] 2250711111111: buckets[1].amount: "
                                                          f"{AMOUNT}, not '-5'"),
        (8, column(lines[7], 1), f"subscribers[1] 2250711111112: {STATUS}"),
    ]


def test_a_csv_field_after_a_quoted_one_is_placed_by_its_column(tmp_path: Path) -> None:
    """Quotes may hold commas: the columns are the fields', not the commas'."""
    text = HEADER + "\n" + ROW.replace(",Mix,", ',"Mix, the offer",').replace(",fr,", ",de,") + ",,,,,,\n"
    line = text.splitlines()[1]
    assert problems(write(tmp_path, "q.csv", text)) == [
        (2, line.index(",de,") + 2, "subscribers[0] 2250711111111: unknown language 'de'; expected one of: fr, en")]


def test_csv_header_problems_are_placed_at_the_header_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "\nmsisdn,status,offer,balance,main_expires\n2250701020304,active,x,1,2027-01-01\n")
    [(line, col, message)] = problems(path)
    assert (line, col) == (2, 1)
    assert message.startswith("missing columns: offer_name, offer_type; unknown columns: offer; expected: ")


def test_a_repeated_csv_column_is_placed_at_its_second_time(tmp_path: Path) -> None:
    header = HEADER.replace("status,", "status,status,", 1)
    text = header + "\n" + ROW.replace("active,", "active,inactive,", 1) + ",,,,,,\n"
    assert problems(write(tmp_path, "twice.csv", text)) == [
        (1, len("msisdn,status,") + 1, "column 'status' is given twice (columns 2 and 3)")]


@pytest.mark.parametrize("text", ["", "msisdn,status\n"])
def test_csv_without_rows_is_placed_at_the_first_line(tmp_path: Path, text: str) -> None:
    assert problems(write(tmp_path, "x.csv", text)) == [(1, 1, "no rows")]


def test_csv_text_that_cannot_be_read_is_placed(tmp_path: Path) -> None:
    data = (HEADER + "\n" + ROW + ",,,,,,\n" + ROW.replace("Mix", "M\xe9lange") + ",,,,,,\n").encode("utf-8")
    data = data.replace("\xe9".encode(), b"\xe9")  # Latin-1, not UTF-8
    [(line, col, message)] = problems(write(tmp_path, "latin.csv", data))
    assert (line, col) == (3, ROW.index("Mix") + 2)  # the byte after the M
    assert message.startswith("cannot read: 'utf-8' codec can't decode byte 0xe9"), message


def test_a_csv_field_past_the_size_limit_is_placed_at_its_line(tmp_path: Path) -> None:
    text = HEADER + "\n" + ROW + ",,,,,,\n" + ROW.replace("Mix", '"' + "x" * 200_000 + '"') + ",,,,,,\n"
    assert problems(write(tmp_path, "big.csv", text)) == [(3, 1, "cannot read: field larger than field limit (131072)")]
