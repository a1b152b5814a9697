"""Alias bombs and keys that are not text (issue 12, imports): a few hundred bytes of YAML whose
aliases nest ("billion laughs") are refused at once, in a little memory, naming line and column;
a mapping or list used as a key is refused; anchors used as meant (a bucket list shared by many
subscribers) still import."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accounts import yamldata
from accounts.importer import ImportFailed, parse_records, read_subscribers
from accounts.policy import load_policy
from accounts.yamldata import DataError, load_plain

TZ = load_policy().tz
#: What a refused bomb may take, in all: the file, its events, the problem (today: gigabytes).
MEMORY_BOUND = 5_000_000


def laughs(use: str) -> str:
    """The classic bomb (nine levels of nine aliases: 387,420,489 'lol' once expanded, in 400 bytes),
    its last level put to ``use`` in a subscriber record."""
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(levels) + "\nsubscribers:\n" + use + "\n"


def bounded(run: Callable[[], Any]) -> tuple[Any, int]:
    """``run()``'s result (or the exception it raised) and the peak memory it took."""
    tracemalloc.start()
    try:
        try:
            result: Any = run()
        except Exception as exc:  # noqa: BLE001 - handed to the test to look at
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("use", [
    "  - {msisdn: '2250701020304', ? *i : x}",  # the bomb as a key: str() of it for did-you-mean
    "  - {msisdn: *i}",  # named in every problem of its record
    "  - {msisdn: '2250701020304', main: {balance: *i}}",  # quoted in 'expected a whole number, found ...'
    "  *i",  # the bomb as the list of subscribers
], ids=["key", "msisdn", "amount", "subscribers"])
def test_billion_laughs_is_refused_in_bounded_memory(tmp_path: Path, use: str) -> None:
    path = write(tmp_path, "laughs.yaml", laughs(use))
    assert path.stat().st_size < 600
    caught, peak = bounded(lambda: read_subscribers(path, TZ))
    assert isinstance(caught, ImportFailed), caught
    [problem] = caught.diagnostics
    assert problem.where.line == 7, problem  # g: the level that goes past the bound
    assert "aliases bring in more than" in problem.message, problem
    assert peak < MEMORY_BOUND, peak


def test_load_plain_stops_at_the_alias_past_the_bound() -> None:
    with pytest.raises(DataError) as caught:
        load_plain(laughs("  *i"))
    [flaw] = caught.value.flaws
    assert (flaw.line, flaw.column) == (7, 16)  # the third *f of g: 3 MB each, on top of 3 MB already
    assert flaw.message.startswith("aliases bring in more than 10,000,000 characters")


@pytest.mark.parametrize("text,where,kind", [
    ("subscribers:\n  - ? [a, b]\n    : 1\n", (2, 7), "a list"),
    ("subscribers:\n  - {msisdn: x, ? {a: 1} : 1}\n", (2, 19), "a mapping"),
    ("subscribers:\n  - &l [a, b]\n  - {*l : 1}\n", (3, 6), "a list"),
    ("? [subscribers]\n: []\n", (1, 3), "a list"),
], ids=["list", "mapping", "alias-of-a-list", "top-level"])
def test_a_key_that_is_not_text_is_refused_with_its_place(tmp_path: Path, text: str, where: tuple[int, int],
                                                          kind: str) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "keys.yaml", text), TZ)
    assert [(d.where.line, d.where.column, d.message) for d in caught.value.diagnostics] == [
        (*where, f"a key must be text, found {kind}")]


def test_an_alias_of_text_is_a_key_like_any_other() -> None:
    assert load_plain("a: &k status\nb: {*k : active}\n") == {"a": "status", "b": {"status": "active"}}


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    """``&a [*a]`` is a list that holds itself: endless once expanded."""
    with pytest.raises(DataError) as caught:
        load_plain("subscribers: &a [x, *a]\n")
    assert [(f.line, f.column, f.message) for f in caught.value.flaws] == [
        (1, 21, "alias *a inside the node it names: that data would never end")]


def test_structures_shared_by_python_callers_are_named_by_their_kind() -> None:
    """parse_records is also fed data from Python (transcripts): a record that shares one list many
    times over must not have it written out in its problems, which str() and repr() would do."""
    shared: Any = ["lol"] * 9
    for _ in range(8):
        shared = [shared] * 9
    key: Any = ("lol",) * 9
    for _ in range(8):
        key = (key,) * 9
    raw = {"msisdn": shared, "status": "active", "offer": {"name": "x", "type": "prepaid"},
           "main": {"balance": shared, "expires": "2027-01-01"}, key: 1,
           "invoices": [{"month": "2026-11", "amount": 1, "issued": "2026-11-01", "due": "2026-11-15", "paid": shared}]}
    caught, peak = bounded(lambda: parse_records([raw], "test", TZ))
    assert isinstance(caught, ImportFailed), caught
    assert [d.message for d in caught.diagnostics] == [
        "subscribers[0]: msisdn: expected E.164 digits like 2250701020304, found a list",
        "subscribers[0]: main.balance: expected a whole number from 0 to 1000000000000000, found a list",
        "subscribers[0]: invoices[0].paid: expected true or false (or yes, no), found a list",
        "subscribers[0]: a key must be text, found a value of type tuple",
    ]
    assert peak < MEMORY_BOUND, peak


# -- anchors used as meant -----------------------------------------------------------------------


def shared_buckets(count: int) -> str:
    """``count`` subscribers, the first defining an offer, a main account and a bucket list that
    all the others share by alias."""
    head = ('subscribers:\n  - msisdn: "2250700000000"\n    status: active\n'
            "    offer: &offer {name: Mix, type: prepaid}\n"
            '    main: &main {balance: 1250, expires: "2027-01-31T23:59:59"}\n'
            "    buckets: &welcome\n"
            '      - {account: credit, rubrique: monthly, scope: intra, amount: 500, expires: "2026-11-30T23:59:59"}\n'
            '      - {account: minutes, rubrique: weekend, scope: all, amount: 600, expires: "2026-12-06T23:59:59"}\n'
            '      - {account: internet, rubrique: night, amount: 524288000, expires: "2026-12-01T06:00:00"}\n')
    rest = (f'  - {{msisdn: "22507{n:08d}", status: active, offer: *offer, main: *main, buckets: *welcome}}\n'
            for n in range(1, count))
    return head + "".join(rest)


def test_anchors_shared_by_many_subscribers_import(tmp_path: Path) -> None:
    subs = read_subscribers(write(tmp_path, "shared.yaml", shared_buckets(2000)), TZ)
    assert len(subs) == 2000
    assert len({s.buckets for s in subs}) == 1 and len(subs[0].buckets) == 3
    assert {s.main for s in subs} == {subs[0].main}


def test_the_bound_grows_with_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the floor, aliases may bring in ten times the file's own text: a large file sharing
    its buckets reads; the same aliases in a file a tenth of their size do not."""
    monkeypatch.setattr(yamldata, "ALIAS_FLOOR", 0)
    text = shared_buckets(300)
    assert len(load_plain(text)["subscribers"]) == 300
    with pytest.raises(DataError) as caught:
        load_plain(text.replace("buckets: *welcome", "buckets: [" + ", ".join(["*welcome"] * 30) + "]"))
    assert "aliases bring in more than" in caught.value.flaws[0].message
