"""The OSV matcher: range semantics, PEP 440 ordering, PEP 503 names, aliases, withdrawn."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from cpmap.core.findings import Severity
from cpmap.errors import InputError
from cpmap.supplychain.osv import Affected, Event, merge, parse_advisory, smallest_fix
from cpmap.supplychain.osvdb import SAMPLE_DB, OfflineDatabase

ASSETS = Path(__file__).parents[1] / "assets" / "osv"


@pytest.fixture(scope="module")
def db() -> OfflineDatabase:
    return OfflineDatabase(ASSETS)


def ids(db: OfflineDatabase, name: str, version: str) -> list[str]:
    return sorted(a.id for a in db.advisories(name, version))


@pytest.mark.parametrize(("version", "hit"), [
    ("0.9", False), ("1.0", True), ("1.4.2", True), ("1.4.2.post1", False), ("1.5", False)])
def test_last_affected_is_inclusive(db: OfflineDatabase, version: str, hit: bool) -> None:
    assert (ids(db, "demo-pkg", version) == ["TEST-LAST-AFFECTED"]) is hit


def test_names_are_pep503_normalized(db: OfflineDatabase) -> None:
    for spelling in ("Demo_Pkg", "demo.pkg", "DEMO--pkg"):
        assert ids(db, spelling, "1.2") == ["TEST-LAST-AFFECTED"]


@pytest.mark.parametrize(("version", "hit"), [("0.1", True), ("1.9.9", True), ("2.0", False),
                                              ("3.0", False)])
def test_limit_bounds_the_range(db: OfflineDatabase, version: str, hit: bool) -> None:
    assert bool(ids(db, "limited", version)) is hit


@pytest.mark.parametrize(("version", "hit"), [
    ("0.9", True), ("0.9.0", True), ("1.0.post1", True), ("1.0", False), ("2004d", True),
    ("2004e", False)])
def test_explicit_versions_list(db: OfflineDatabase, version: str, hit: bool) -> None:
    assert bool(ids(db, "listed", version)) is hit


def test_withdrawn_non_pypi_and_git_only_are_ignored(db: OfflineDatabase) -> None:
    assert ids(db, "withdrawn-pkg", "1.0") == []
    assert ids(db, "requests", "1.0") == []
    assert ids(db, "gitonly", "1.0") == []


@pytest.mark.parametrize(("version", "hit"), [
    ("1.0a1", False), ("1.0rc1", True), ("1.0", True), ("1.0.post0", True),
    ("1.0.post1", False), ("5.0", False), ("1!0.5", True), ("1!0.7.dev2", True),
    ("1!0.7.dev3", False), ("1!0.7", False)])
def test_pre_post_dev_and_epochs(db: OfflineDatabase, version: str, hit: bool) -> None:
    assert bool(ids(db, "prepost", version)) is hit


@pytest.mark.parametrize(("version", "hit", "fix"), [
    ("1.26.5", True, "1.26.18"), ("1.26.18", False, None), ("1.27", False, None),
    ("2.0.0", True, "2.0.7"), ("2.0.7", False, None)])
def test_several_introduced_fixed_pairs(db: OfflineDatabase, version: str, hit: bool,
                                        fix: str | None) -> None:
    matched = db.advisories("branches", version)
    assert bool(matched) is hit
    vulns = merge("branches", version, matched)
    assert smallest_fix("branches", version, matched, vulns) == fix
    if hit:
        assert vulns[0].severity is Severity.CRITICAL  # computed from the CVSS vector


def test_aliases_merge_into_one_vulnerability(db: OfflineDatabase) -> None:
    matched = db.advisories("aliased", "2.0")
    assert len(matched) == 2
    [vuln] = merge("aliased", "2.0", matched)
    assert vuln.aliases == ("CVE-2099-0001", "GHSA-xxxx-yyyy-zzzz", "TEST-ALIAS-B")
    assert vuln.id == "TEST-ALIAS-A"
    assert vuln.summary == "Second record with a title"
    assert vuln.severity is Severity.HIGH  # the worst rating of the group
    assert vuln.fix_versions == ("3.0", "3.1")
    # 3.0 fixes A but B still affects it: the smallest version fixing both is 3.1
    assert smallest_fix("aliased", "2.0", matched, [vuln]) == "3.1"


def test_sample_database_real_records() -> None:
    sample = OfflineDatabase(SAMPLE_DB)
    [vuln] = merge("PyYAML", "5.3.1", sample.advisories("PyYAML", "5.3.1"))
    assert vuln.id == "PYSEC-2021-142" and "GHSA-8q59-q68h-6hv4" in vuln.aliases
    assert vuln.severity is Severity.CRITICAL and vuln.fix_versions == ("5.4",)
    # 5.3 is also hit by PYSEC-2020-96 (fixed in 5.3.1): two distinct vulnerabilities
    assert len(merge("pyyaml", "5.3", sample.advisories("pyyaml", "5.3"))) == 2
    assert sample.advisories("requests", "2.31.0") == []
    assert sample.advisories("requests", "2.2.1") == []  # introduced in 2.3.0


def test_zip_export_equals_folder(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(SAMPLE_DB.glob("*.json")):
            zf.write(p, p.name)
    folder, zipped = OfflineDatabase(SAMPLE_DB), OfflineDatabase(archive)
    assert zipped.records == folder.records == 7
    for name, version in [("requests", "2.28.1"), ("urllib3", "2.0.3"), ("jinja2", "2.10")]:
        assert ids(zipped, name, version) == ids(folder, name, version) != []


def test_name_prefilter_keeps_only_wanted_packages() -> None:
    filtered = OfflineDatabase(SAMPLE_DB, names=["PyYAML"])
    assert set(filtered.by_name) == {"pyyaml"}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"no_id": 1}'])
def test_bad_record_names_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.json").write_bytes(content)
    with pytest.raises(InputError, match="bad.json"):
        OfflineDatabase(tmp_path)


def test_missing_and_non_database_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        OfflineDatabase(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="not a folder, zip"):
        OfflineDatabase(tmp_path / "x.txt")


def test_range_with_non_pep440_version_is_unusable_not_fatal() -> None:
    adv = parse_advisory({"id": "X", "affected": [{"package": {"ecosystem": "PyPI", "name": "p"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [
                              {"introduced": "0"}, {"fixed": "not a version!"}]}]}]}, "x")
    assert adv.affected[0].ranges == ()
    assert adv.affecting("p", "1.0") == []


versions = st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 5), st.integers(0, 5),
                     st.integers(0, 5))


@settings(max_examples=200, deadline=None)
@given(intro=versions, fixed=versions, probe=versions)
def test_range_matches_naive_interval(intro: str, fixed: str, probe: str) -> None:
    """introduced <= v < fixed, exactly, whenever introduced < fixed."""
    if Version(intro) >= Version(fixed):
        return
    aff = Affected("p", ((Event("introduced", intro), Event("fixed", fixed)),), frozenset())
    assert aff.affects(probe) is (Version(intro) <= Version(probe) < Version(fixed))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6)
    | st.sampled_from(["PyPI", "ECOSYSTEM", "0", "1.0", "2.0rc1", "1!1", "*", "p"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["ecosystem", "name", "type", "introduced", "fixed", "limit",
                         "last_affected", "events", "package", "ranges", "versions"]), c,
        max_size=4), max_leaves=16)
osv_fields = st.dictionaries(
    st.sampled_from(["aliases", "affected", "severity", "summary", "details", "withdrawn",
                     "database_specific"]), json_values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(osv_fields)
def test_parser_never_crashes_on_arbitrary_json(fields: dict[str, object]) -> None:
    adv = parse_advisory({"id": "FUZZ", **fields}, "fuzz")
    adv.affecting("p", "1.0")
    merge("p", "1.0", [adv])


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, _limit: int) -> bytes:
        return self.body


def test_online_client_pages_and_rematches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OSV API client, offline: pagination, our own re-match, errors as OsvError."""
    import json
    import urllib.error
    import urllib.request

    from cpmap.supplychain import osvdb

    records = [json.loads((SAMPLE_DB / f"{i}.json").read_text())
               for i in ("PYSEC-2021-142", "GHSA-8q59-q68h-6hv4", "PYSEC-2020-96")]
    pages = [{"vulns": records[:2], "next_page_token": "t1"}, {"vulns": records[2:]}]
    bodies: list[dict[str, object]] = []

    def fake(request: urllib.request.Request, timeout: float) -> _Answer:
        bodies.append(json.loads(request.data))  # type: ignore[arg-type]
        return _Answer(json.dumps(pages[len(bodies) - 1]).encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake)
    found = osvdb.OnlineDatabase().advisories("PyYAML", "5.3.1")
    assert bodies[0]["package"] == {"name": "PyYAML", "ecosystem": "PyPI"}
    assert bodies[1]["page_token"] == "t1"
    # PYSEC-2020-96 (fixed in 5.3.1) came back from the service but does not affect 5.3.1
    assert sorted(a.id for a in found) == ["GHSA-8q59-q68h-6hv4", "PYSEC-2021-142"]

    def down(request: urllib.request.Request, timeout: float) -> _Answer:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", down)
    with pytest.raises(osvdb.OsvError, match="unreachable"):
        osvdb.OnlineDatabase().advisories("requests", "2.0")
