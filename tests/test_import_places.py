"""Every import problem names its place in the file (issue 12, imports): YAML by line and column
(records, the file's shape, syntax and encoding), CSV by the physical line of the row it comes from
(a bucket's problems by its own row; blank lines and quoted line breaks counted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.importer import CSV_FIELDS, ImportFailed, read_subscribers
from accounts.policy import load_policy

HERE = Path(__file__).parent
FIXTURES = HERE / "accounts"
TZ = load_policy().tz
HEADER = ",".join(CSV_FIELDS)
ROW = "2250711111111,active,Mix,prepaid,fr,1250,2027-01-31T23:59:59,,"
RECORD = '{{msisdn: "{}", status: {}, offer: {{name: M, type: prepaid}}, main: {{balance: 1, expires: "2027-01-01"}}}}'


def problems(path: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(path, TZ)
    return [(p.record, p.field, p.message) for p in caught.value.problems]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- YAML ------------------------------------------------------------------------------------------


def test_yaml_records_are_named_by_line_and_column() -> None:
    assert [(r, f) for r, f, _ in problems(FIXTURES / "two_bad.yaml")] == [
        ("subscribers[1] 2250755555555 (line 8 column 5)", "status"),
        ("subscribers[2] 2250766666666 (line 12 column 5)", "buckets[0].amount"),
    ]


def test_records_on_one_line_are_told_apart_by_their_column(tmp_path: Path) -> None:
    text = f"subscribers: [{RECORD.format('2250701020304', 'activ')}, {RECORD.format('2250701020305', 'activ')}]\n"
    second = text.index(", {") + 3
    assert [r for r, _, _ in problems(write(tmp_path, "flow.yaml", text))] == [
        "subscribers[0] 2250701020304 (line 1 column 15)", f"subscribers[1] 2250701020305 (line 1 column {second})"]


@pytest.mark.parametrize("text,expected", [
    ("", ("line 1 column 1", "subscribers", "expected a mapping with a 'subscribers' list")),
    ("\n\n- a\n- b\n", ("line 3 column 1", "subscribers", "expected a mapping with a 'subscribers' list")),
    ("# none yet\nother: 1\n", ("line 2 column 1", "subscribers", "expected a mapping with a 'subscribers' list")),
    ("# x\n  subscribers: {a: 1}\n", ("line 2 column 3", "subscribers", "expected a list of subscribers")),
    ("subscribers:\n", ("line 1 column 1", "subscribers", "expected a list of subscribers")),
])
def test_the_files_shape_is_named_by_line_and_column(tmp_path: Path, text: str,
                                                     expected: tuple[str, str, str]) -> None:
    assert problems(write(tmp_path, "shape.yaml", text))[-1] == expected


@pytest.mark.parametrize("data,where,message", [
    (b"subscribers:\n  - status: \x00\n", "line 2 column 13", "YAML syntax: control characters are not allowed (#x0)"),
    (b"subscribers:\n  - status: act\xffive\n", "line 2 column 16", "YAML syntax: invalid leading UTF-8 octet (#xFF)"),
    ("subscribers:\n  - name: \u00e9\u00e9\x07\n".encode(), "line 2 column 13",
     "YAML syntax: control characters are not allowed (#x7)"),
])
def test_yaml_text_that_cannot_be_read_is_named_by_line_and_column(tmp_path: Path, data: bytes, where: str,
                                                                   message: str) -> None:
    assert problems(write(tmp_path, "bytes.yaml", data)) == [(where, "", message)]


# -- CSV -------------------------------------------------------------------------------------------


def test_a_csv_bucket_problem_names_its_own_row(tmp_path: Path) -> None:
    text = (HEADER + "\n" + ROW + "credit,monthly,intra,,500,,2026-11-30T23:59:59\n"
            + ROW + "credit,monthly,intra,,-5,,2026-11-30T23:59:59\n")
    assert problems(write(tmp_path, "b.csv", text)) == [
        ("subscribers[0] 2250711111111 (line 3)", "buckets[1].amount",
         "expected a whole number from 0 to 1000000000000000, found -5")]


def test_csv_lines_count_blank_lines_and_line_breaks_in_fields(tmp_path: Path) -> None:
    favourites = "2250722222222;2250733333333"
    text = (HEADER + "\n\n"  # line 2 is blank; the first row's favourites take lines 3 and 4
            + ROW.replace("59,,", '59,"' + favourites.replace(";", "\r\n") + '",')
            + "credit,monthly,intra,,500,,2026-11-30T23:59:59\n"
            "\n\n" + ROW.replace("59,,", f"59,{favourites},").replace(",Mix,", ",Max,")
            + "credit,monthly,intra,,-5,,2026-11-30T23:59:59\n"
            + ROW.replace("2250711111111,active", "2250711111112,activ") + ",,,,,,\n")
    assert [(r, f) for r, f, _ in problems(write(tmp_path, "nl.csv", text))] == [
        ("subscribers[0] 2250711111111 (line 7)", "offer_name"),  # the rows disagree on the name
        ("subscribers[0] 2250711111111 (line 7)", "buckets[1].amount"),
        ("subscribers[1] 2250711111112 (line 8)", "status"),
    ]


def test_csv_header_problems_name_the_header_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "\nmsisdn,status,offer,balance,main_expires\n2250701020304,active,x,1,2027-01-01\n")
    [(record, field, message)] = problems(path)
    assert (record, field) == ("line 2", "")
    assert message.startswith("missing columns: offer_name, offer_type; unknown columns: offer; expected: ")


@pytest.mark.parametrize("text,expected", [
    ("", ("line 1", "", "no rows")),
    ("msisdn,status\n", ("line 1", "", "no rows")),
])
def test_csv_without_rows_names_a_line(tmp_path: Path, text: str, expected: tuple[str, str, str]) -> None:
    assert problems(write(tmp_path, "x.csv", text)) == [expected]


def test_csv_text_that_cannot_be_read_names_its_line(tmp_path: Path) -> None:
    data = (HEADER + "\n" + ROW + ",,,,,,\n" + ROW.replace("Mix", "M\xe9lange") + ",,,,,,\n").encode("utf-8")
    data = data.replace("\xe9".encode(), b"\xe9")  # Latin-1, not UTF-8
    [(record, field, message)] = problems(write(tmp_path, "latin.csv", data))
    assert (record, field) == ("line 3", "")
    assert message.startswith("cannot read: 'utf-8' codec can't decode byte 0xe9"), message


def test_a_csv_field_past_the_size_limit_names_its_line(tmp_path: Path) -> None:
    text = HEADER + "\n" + ROW + ",,,,,,\n" + ROW.replace("Mix", '"' + "x" * 200_000 + '"') + ",,,,,,\n"
    [(record, field, message)] = problems(write(tmp_path, "big.csv", text))
    assert (record, field, message) == ("line 3", "", "cannot read: field larger than field limit (131072)")
