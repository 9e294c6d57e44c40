"""The API key ring: parsing a key file, looking keys up, reloading when the file changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from api import keys as keys_module
from api.keys import ApiKey, KeyRing, parse_keys
from worker.errors import ConfigurationError


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def entry(name: str, key: str, slugs: list[str]) -> dict[str, Any]:
    return {"name": name, "key_sha256": sha(key), "app_slugs": slugs}


def test_parse_keys() -> None:
    keys = parse_keys([entry("ci", "k1", ["a", "b"]), entry("ops", "k2", ["*"])], "keys.yaml")
    assert keys == [
        ApiKey("ci", sha("k1"), frozenset({"a", "b"})),
        ApiKey("ops", sha("k2"), frozenset({"*"})),
    ]
    assert keys[0].allows("a") and not keys[0].allows("c") and not keys[0].all_slugs
    assert keys[1].allows("anything") and keys[1].all_slugs


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"name": "x"}, "expected a list of API keys"),
        ([{"key_sha256": sha("k"), "app_slugs": []}], "API key #1 is malformed: 'name'"),
        ([{"name": "x", "app_slugs": []}], "API key #1 is malformed: 'key_sha256'"),
        ([{"name": "x", "key_sha256": "abc", "app_slugs": []}], "64 hex digits"),
        ([{"name": "x", "key_sha256": "z" * 64, "app_slugs": []}], "64 hex digits"),
        ([entry("ok", "k", ["a"]), {**entry("x", "k", []), "app_slugs": "a"}], "API key #2"),
        ([{**entry("x", "k", []), "app_slugs": [1]}], "app_slugs must be a list of strings"),
    ],
)
def test_malformed_key_files_say_which_entry(data: Any, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_keys(data, "keys.yaml")
    assert str(caught.value).startswith("keys.yaml: ")
    assert says in str(caught.value)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_lookup_and_reload_when_the_file_changes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"keys{suffix}"
    path.write_text(json.dumps([entry("ci", "first-key", ["a"])]))  # JSON is YAML too
    ring = KeyRing(path)
    found = ring.lookup("first-key")
    assert found is not None and found.name == "ci"
    assert ring.lookup("second-key") is None and ring.lookup("") is None
    path.write_text(json.dumps([entry("ci2", "second-key", ["b"])]))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # surely changed
    assert ring.lookup("first-key") is None
    again = ring.lookup("second-key")
    assert again is not None and again.app_slugs == frozenset({"b"})


def test_a_change_is_seen_by_content_even_with_the_old_mtime(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(json.dumps([entry("ci", "k", ["a"])]))
    ring = KeyRing(path)
    stat = path.stat()
    path.write_text(json.dumps([entry("ci", "revoked-and-replaced", ["a"])]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as a restored backup would
    assert ring.lookup("k") is None and ring.lookup("revoked-and-replaced") is not None
    path.write_text("{ this is not yaml")  # a broken edit: the keys before stay
    assert ring.lookup("revoked-and-replaced") is not None


def test_the_file_is_read_again_only_when_its_stat_changes_or_a_second_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(json.dumps([entry("ci", "k", ["a"])]))
    clock = [1000.0]
    monkeypatch.setattr("api.keys.time.monotonic", lambda: clock[0])
    ring = KeyRing(path)
    reads: list[Path] = []
    real_read_text = Path.read_text

    def counted_read_text(self: Path) -> str:
        reads.append(self)
        return real_read_text(self)

    monkeypatch.setattr(Path, "read_text", counted_read_text)
    assert ring.lookup("k") is not None and ring.lookup("k") is not None
    assert reads == []  # stat unchanged within the second: served from memory
    clock[0] += keys_module.RECHECK_SECONDS
    assert ring.lookup("k") is not None
    assert reads == [path]  # a second later the content is checked again
    path.write_text(json.dumps([entry("ci", "k2", ["a"])]))
    assert ring.lookup("k") is None and ring.lookup("k2") is not None
    assert reads == [path, path]  # a changed stat is seen at once


def test_key_names_are_unique() -> None:
    with pytest.raises(ConfigurationError, match="name\\(s\\) ci used twice"):
        parse_keys([entry("ci", "k1", ["a"]), entry("ci", "k2", ["b"])], "keys.yaml")


def test_no_file_means_no_keys_and_a_vanished_file_is_an_error(tmp_path: Path) -> None:
    assert KeyRing(None).lookup("anything") is None
    path = tmp_path / "keys.yaml"
    path.write_text("[]")
    ring = KeyRing(path)
    assert ring.lookup("k") is None
    path.unlink()
    with pytest.raises(ConfigurationError, match=f"cannot read API keys file {path}"):
        ring.lookup("k")


def test_parse_keys_reads_limits_and_the_audit_right() -> None:
    data = [{**entry("ci", "k1", ["a"]), "rate": 5, "max_active": 2, "audit": True}]
    (key,) = parse_keys(data, "keys.yaml")
    assert (key.rate, key.max_active, key.audit) == (5, 2, True)
    (plain,) = parse_keys([entry("ops", "k2", ["*"])], "keys.yaml")
    assert (plain.rate, plain.max_active, plain.audit) == (None, None, False)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"rate": 0}, "rate must be a whole number of at least 1"),
        ({"max_active": "3"}, "max_active must be a whole number of at least 1"),
        ({"rate": True}, "rate must be a whole number of at least 1"),
        ({"audit": "yes"}, "audit must be true or false"),
    ],
)
def test_malformed_limits_name_the_field(extra: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        parse_keys([{**entry("ci", "k1", ["a"]), **extra}], "keys.yaml")
