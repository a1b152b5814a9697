"""Every kind of operator file: its schema is published, valid and used by the files shipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from ussd import check_document, read_document
from ussd122.files import KINDS, FileKind, check_files, kind_of

ROOT = Path(__file__).resolve().parent.parent
COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def shipped_files(kind: FileKind) -> list[Path]:
    files: list[Path] = []
    for name in kind.shipped:
        path = ROOT / name
        files.extend(sorted(path.rglob("*.yaml")) if path.is_dir() else [path])
    return files


@pytest.mark.parametrize("kind", KINDS.values(), ids=list(KINDS))
def test_each_schema_is_draft_2020_12_and_says_what_it_is(kind: FileKind) -> None:
    document = kind.schema.document
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["title"] and document["description"] and document["$id"].endswith(kind.schema_file)
    assert json.loads(kind.schema.text()) == document


@pytest.mark.parametrize(("kind", "path"), [(k, p) for k in KINDS.values() for p in shipped_files(k)],
                         ids=lambda v: v.name if isinstance(v, FileKind) else str(v.relative_to(ROOT)))
def test_every_shipped_file_names_its_schema_and_fits_it(kind: FileKind, path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    named = COMMENT.match(first)
    assert named, f"{path}: the first line should be '# yaml-language-server: $schema=...'"
    assert (path.parent / named.group(1)).resolve() == (ROOT / kind.package / "schemas" / kind.schema_file)
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    assert check_document(read_document(root, str(path)), kind.schema) == []
    assert kind_of(path) is kind


@pytest.mark.parametrize("kind", KINDS.values(), ids=list(KINDS))
def test_every_shipped_file_passes_its_whole_checker(kind: FileKind) -> None:
    files = shipped_files(kind)
    if kind.name == "menu":
        files = [ROOT / name for name in kind.shipped]
    assert check_files(kind, files).diagnostics == []


def test_the_transcripts_of_the_test_suite_name_and_fit_their_schema() -> None:
    kind = KINDS["transcript"]
    paths = sorted((ROOT / "tests" / "transcripts").glob("*.yaml"))
    assert paths
    for path in paths:
        assert kind_of(path) is kind
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        assert check_document(read_document(root, str(path)), kind.schema) == [], path


def test_a_file_without_a_schema_comment_is_known_by_its_keys(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("timezone: Africa/Abidjan\nwindows: {}\n", encoding="utf-8")
    menu = tmp_path / "m.yaml"
    menu.write_text("screens: {}\n", encoding="utf-8")
    assert kind_of(policy) is KINDS["policy"] and kind_of(menu) is KINDS["menu"] and kind_of(tmp_path) is KINDS["menu"]
    assert kind_of(ROOT / "tests" / "accounts" / "small.csv") is KINDS["subscribers"]


# -- the commands -----------------------------------------------------------------------------------

def test_ussd_schema_prints_each_kind_as_json() -> None:
    from console import ussd

    for kind in KINDS.values():
        run = ussd("schema", kind.name)
        assert run.code == 0 and json.loads(run.out) == kind.schema.document
    assert ussd("schema", "menus").code == 2


def test_ussd_check_reports_every_kind_the_same_way(tmp_path: Path) -> None:
    from console import ussd

    policy = tmp_path / "policy.yaml"
    policy.write_text("# yaml-language-server: $schema=x/policy.schema.json\ntimezone: Africa/Abidjan\n"
                      "windws: {}\n", encoding="utf-8")
    config = tmp_path / "serve.yaml"
    config.write_text("workers: many\n", encoding="utf-8")
    run = ussd("check", str(policy), "--kind", "policy")
    assert run.code == 1 and run.lines == [
        f"{policy}:3:1: file: unknown key 'windws' (did you mean 'windows'?); expected one of: timezone, windows, "
        "rubriques, lines, favourites, passes"]
    assert run.err.strip() == "1 problem(s) in 1 file(s)"
    run = ussd("check", str(config), str(policy))  # each known by its $schema comment or its keys
    assert run.code == 1 and len(run.lines) == 2 and run.lines[1].startswith(f"{config}:1:10: workers: ")
    assert run.err.strip() == "2 problem(s) in 2 file(s)"
    assert ussd("check", str(ROOT / "accounts" / "policy.yaml")).lines == ["ok: 1 policy file(s)"]
