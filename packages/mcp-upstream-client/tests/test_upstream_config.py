"""The upstream file: valid files load, every kind of bad entry names upstream and field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mcp_upstream_client import UpstreamConfigError, format_pins, load_upstreams, parse_upstreams

PIN = "sha256:" + "ab" * 32

GOOD = """
[[upstreams]]
name = "docs"
transport = "http"
url = "https://docs.example/mcp"
headers = { Authorization = "Bearer ${DOCS_TOKEN}" }
allow_tools = ["search_docs", "read_page"]
expose = true
timeout_s = 10
required = false
pins = { search_docs = "PIN" }

[[upstreams]]
name = "everything"
transport = "stdio"
command = ["npx", "-y", "@modelcontextprotocol/server-everything"]
env = { }
allow_tools = ["echo"]
[upstreams.breaker]
fail_max = 5
reset_timeout_s = 30
""".replace("PIN", PIN)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "upstreams.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_spec_example_loads_with_secrets_expanded(tmp_path: Path) -> None:
    configs = load_upstreams(write(tmp_path, GOOD), environ={"DOCS_TOKEN": "s3cret"})
    docs, everything = configs
    assert docs.name == "docs"
    assert docs.headers["Authorization"].get_secret_value() == "Bearer s3cret"
    assert docs.pins == {"search_docs": PIN}
    assert everything.transport == "stdio"
    assert everything.breaker.fail_max == 5
    assert everything.breaker.reset_timeout_s == 30
    assert everything.effective_connect_timeout_s == 10


def test_secrets_never_show_in_repr_or_redacted_view(tmp_path: Path) -> None:
    (docs, _) = load_upstreams(write(tmp_path, GOOD), environ={"DOCS_TOKEN": "s3cret"})
    assert "s3cret" not in repr(docs)
    assert docs.redacted()["headers"] == {"Authorization": "***"}
    assert "s3cret" not in str(docs.redacted())


def test_unset_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(UpstreamConfigError) as info:
        load_upstreams(write(tmp_path, GOOD), environ={})
    message = str(info.value)
    assert "DOCS_TOKEN" in message
    assert "'docs'" in message
    assert "headers" in message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("timeout_s = -1", "timeout_s"),
        ('allowed_tools = ["x"]', "allowed_tools"),  # a typo must not mean "allow nothing"
        ('pins = { echo = "md5:1" }', "pins"),
        (f'pins = {{ other = "{PIN}" }}', "other not in allow_tools"),
        ('mode = "modern"', "mode"),
        ("[upstreams.breaker]\nfail_max = 0", "breaker.fail_max"),
        ('headers = { "Bad Header" = "x" }', "headers"),
    ],
)
def test_bad_field_is_named_with_its_upstream(tmp_path: Path, entry: str, expected: str) -> None:
    text = (
        '[[upstreams]]\nname = "api"\ntransport = "http"\nurl = "http://127.0.0.1:1/mcp"\n'
        f'allow_tools = ["echo"]\n{entry}\n'
    )
    with pytest.raises(UpstreamConfigError) as info:
        load_upstreams(write(tmp_path, text), environ={})
    message = str(info.value)
    assert "upstream 'api'" in message
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"name": "Bad Name", "transport": "http", "url": "http://x/mcp"}, "field 'name'"),
        ({"name": "a", "transport": "http"}, "url: required"),
        ({"name": "a", "transport": "stdio", "command": []}, "command: required"),
        ({"name": "a", "transport": "http", "url": "ftp://x"}, "field 'url'"),
        ({"name": "a", "transport": "http", "url": "http://x", "command": ["x"]}, "stdio"),
        ({"name": "a", "transport": "pigeon"}, "field 'transport'"),
        ({"transport": "http", "url": "http://x"}, "upstream #1"),
    ],
)
def test_transport_and_name_rules(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(UpstreamConfigError) as info:
        parse_upstreams({"upstreams": [raw]}, environ={})
    assert expected in str(info.value)


def test_names_are_unique() -> None:
    raw = {"name": "a", "transport": "http", "url": "http://x/mcp"}
    with pytest.raises(UpstreamConfigError, match="'a' is used twice"):
        parse_upstreams({"upstreams": [raw, raw]}, environ={})


def test_unknown_top_level_key_and_wrong_shapes() -> None:
    with pytest.raises(UpstreamConfigError, match="unknown top-level key"):
        parse_upstreams({"upstream": []}, environ={})
    with pytest.raises(UpstreamConfigError, match="array of tables"):
        parse_upstreams({"upstreams": {"name": "a"}}, environ={})


def test_file_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(UpstreamConfigError, match="not found"):
        load_upstreams(tmp_path / "missing.toml")
    with pytest.raises(UpstreamConfigError, match="invalid TOML"):
        load_upstreams(write(tmp_path, "[[upstreams]\nname="))


def test_empty_file_means_no_upstreams(tmp_path: Path) -> None:
    assert load_upstreams(write(tmp_path, "")) == []


def test_printed_pins_paste_back_as_toml() -> None:
    text = format_pins({"docs": {"search_docs": PIN, "read-page": PIN}})
    parsed = tomllib.loads(text)
    assert parsed["pins"] == {"search_docs": PIN, "read-page": PIN}
