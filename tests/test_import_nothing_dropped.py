"""Nothing in an import file is dropped or overridden without a word (issue 12, imports): a second
YAML document, a key given twice at any depth, an unknown top-level key, a repeated or extra CSV
column, CSV rows of one subscriber that disagree, a bucket given in part: each is a problem, and
nothing is imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.importer import CSV_FIELDS, ImportFailed, read_subscribers
from accounts.policy import load_policy
from accounts.yamldata import DataError, load_plain

TZ = load_policy().tz
HEADER = ",".join(CSV_FIELDS)
GOOD = ('  - msisdn: "2250701020304"\n'
        "    status: active\n"
        "    offer: {name: Mix, type: prepaid}\n"
        '    main: {balance: 1, expires: "2027-01-01T00:00:00"}\n'
        "    buckets:\n"
        '      - {account: credit, rubrique: monthly, scope: intra, amount: 5, expires: "2026-11-30T23:59:59"}\n')


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, name: str, text: str) -> list[tuple[int, int, str]]:
    """Line, column and message of each problem, in file order."""
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, name, text), TZ)
    return [(d.where.line, d.where.column, d.message) for d in caught.value.diagnostics]


def test_the_good_record_imports(tmp_path: Path) -> None:
    [sub] = read_subscribers(write(tmp_path, "good.yaml", "subscribers:\n" + GOOD), TZ)
    assert sub.msisdn == "2250701020304" and len(sub.buckets) == 1


# -- YAML ------------------------------------------------------------------------------------------


def test_a_second_document_is_a_problem(tmp_path: Path) -> None:
    text = "subscribers:\n" + GOOD + "---\nsubscribers:\n" + GOOD.replace("2250701020304", "2250701020305")
    assert problems(tmp_path, "two.yaml", text) == [(8, 1, "a second document (after ---): an import file holds one")]


def test_an_explicit_single_document_reads(tmp_path: Path) -> None:
    path = write(tmp_path, "one.yaml", "%YAML 1.1\n---\nsubscribers:\n" + GOOD + "...\n")
    assert len(read_subscribers(path, TZ)) == 1


@pytest.mark.parametrize("text,where,key", [
    ("subscribers:\n" + GOOD + "subscribers: []\n", (8, 1), "subscribers"),
    ("subscribers:\n" + GOOD.replace("    status: active\n", "    status: active\n    status: inactive\n"),
     (4, 5), "status"),
    ("subscribers:\n" + GOOD.replace("amount: 5,", "amount: 5, amount: 50,"), (7, 71), "amount"),
    ("subscribers:\n" + GOOD.replace("{name: Mix,", "{name: Mix, name: Max,"), (4, 24), "name"),
    ("subscribers:\n" + GOOD.replace('    status', '    ~: 1\n    null: 2\n    status'), (4, 5), "null"),
], ids=["top-level", "record", "bucket", "offer", "null"])
def test_a_key_given_twice_is_a_problem(tmp_path: Path, text: str, where: tuple[int, int], key: str) -> None:
    assert problems(tmp_path, "twice.yaml", text) == [(*where, f"{key!r} is given twice: each key is given once")]


def test_every_duplicate_is_listed() -> None:
    with pytest.raises(DataError) as caught:
        load_plain("a: 1\nb: {x: 1, x: 2}\na: 3\n")
    assert [(f.line, f.column) for f in caught.value.flaws] == [(2, 11), (3, 1)]


def test_an_anchor_given_twice_is_a_problem() -> None:
    """A later ``&a`` would silently change what every later ``*a`` means."""
    with pytest.raises(DataError) as caught:
        load_plain("x: &a 1\ny: &a 2\nz: *a\n")
    assert [(f.line, f.column, f.message) for f in caught.value.flaws] == [
        (2, 4, "anchor &a is already given on line 1: each anchor is given once")]


def test_an_unknown_top_level_key_is_a_problem(tmp_path: Path) -> None:
    assert problems(tmp_path, "extra.yaml", "subscribers:\n" + GOOD + "subscriber: []\nversion: 2\n") == [
        (8, 1, "file: unknown key 'subscriber' (did you mean 'subscribers'?); expected one of: subscribers"),
        (9, 1, "file: unknown key 'version'; expected one of: subscribers"),
    ]


@pytest.mark.parametrize("field,value,expected", [
    ("buckets", "{}", "a list of buckets, found a mapping"), ("favourites", '""', "a list of numbers, found ''"),
    ("invoices", "{}", "a list of invoices, found a mapping"),
    ("duplicates", "''", "a list of duplicate requests, found ''"),
])
def test_an_empty_value_of_the_wrong_kind_is_a_problem(tmp_path: Path, field: str, value: str, expected: str) -> None:
    """``buckets: {}`` is not an empty list: it was read as one, and so dropped without a word."""
    text = "subscribers:\n" + GOOD.split("    buckets:\n")[0] + f"    {field}: {value}\n"
    assert problems(tmp_path, "kind.yaml", text) == [
        (6, len(f"    {field}: ") + 1, f"subscribers[0] 2250701020304: {field}: expected {expected}")]


# -- CSV -------------------------------------------------------------------------------------------

ROW = "2250711111111,active,Mix,prepaid,fr,1250,2027-01-31T23:59:59,2250722222222;2250733333333,{bucket}"
BUCKETS = ("credit,monthly,intra,,500,,2026-11-30T23:59:59", "internet,night,,,5,,2026-12-01T06:00:00")


def csv_text(*rows: str) -> str:
    return HEADER + "\n" + "".join(row + "\n" for row in rows)


def test_csv_rows_that_agree_make_one_subscriber(tmp_path: Path) -> None:
    text = csv_text(*(ROW.format(bucket=b) for b in BUCKETS))
    [sub] = read_subscribers(write(tmp_path, "good.csv", text), TZ)
    assert len(sub.buckets) == 2


@pytest.mark.parametrize("column,first,second", [
    ("status", "active", "inactive"),
    ("offer_name", "Mix", "Max"),
    ("offer_type", "prepaid", "postpaid"),
    ("language", "fr", "en"),
    ("balance", "1250", "1350"),
    ("main_expires", "2027-01-31T23:59:59", "2027-02-28T23:59:59"),
    ("favourites", "2250722222222;2250733333333", "2250722222222"),
    ("language", "fr", ""),
])
def test_csv_rows_of_one_subscriber_that_disagree_are_a_problem(tmp_path: Path, column: str, first: str,
                                                                 second: str) -> None:
    index = CSV_FIELDS.index(column)
    fields = ROW.format(bucket=BUCKETS[1]).split(",")
    fields[index] = second
    text = csv_text(ROW.format(bucket=BUCKETS[0]), ",".join(fields))
    assert problems(tmp_path, "disagree.csv", text) == [
        (3, len(",".join(fields[:index])) + 2,  # the field of the row that differs
         f"subscribers[0] 2250711111111: {column}: {second!r} differs from {first!r} on line 2: the rows of a "
         "subscriber repeat its columns")]


def test_csv_favourites_written_two_ways_agree(tmp_path: Path) -> None:
    second = ROW.format(bucket=BUCKETS[1]).replace("2250722222222;2250733333333", "2250722222222 2250733333333")
    [sub] = read_subscribers(write(tmp_path, "fav.csv", csv_text(ROW.format(bucket=BUCKETS[0]), second)), TZ)
    assert sub.favourites == ("2250722222222", "2250733333333")


def test_a_repeated_csv_column_is_a_problem(tmp_path: Path) -> None:
    header = HEADER.replace("status,", "status,status,", 1)
    text = header + "\n" + ROW.format(bucket=BUCKETS[0]).replace("active,", "active,inactive,", 1) + "\n"
    assert problems(tmp_path, "twice.csv", text) == [
        (1, len("msisdn,status,") + 1, "column 'status' is given twice (columns 2 and 3)")]


def test_a_csv_row_with_more_fields_than_the_header_is_a_problem(tmp_path: Path) -> None:
    text = csv_text(ROW.format(bucket=BUCKETS[0]), ROW.format(bucket=BUCKETS[1]) + ",extra,more")
    assert problems(tmp_path, "long.csv", text) == [(3, 1, "17 fields, for the header's 15 columns")]


def test_a_short_csv_row_is_a_problem(tmp_path: Path) -> None:
    text = csv_text(ROW.format(bucket=BUCKETS[0]), "2250711111111,active,Mix,prepaid,fr,1250,2027-01-31T23:59:59")
    assert problems(tmp_path, "short.csv", text) == [(3, 1, "7 fields, for the header's 15 columns")]


def test_a_bucket_given_in_part_is_a_problem_not_dropped(tmp_path: Path) -> None:
    """A row with only some bucket columns (the line, the grant) was read as a row without bucket."""
    text = csv_text(ROW.format(bucket=BUCKETS[0]), ROW.format(bucket=",,,credit_monthly,,2026-11-01T00:00:00,"))
    found = problems(tmp_path, "part.csv", text)
    where = len(",".join(text.splitlines()[2].split(",")[:CSV_FIELDS.index("account")])) + 2  # the (empty) account
    assert [(line, column, message.split(" (")[0]) for line, column, message in found] == [
        (3, where, f"subscribers[0] 2250711111111: buckets[1]: missing {key!r}")
        for key in ("account", "rubrique", "amount", "expires")]
