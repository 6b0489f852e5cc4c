"""The matcher: subset matching, placeholders, captured values and paths."""

from __future__ import annotations

import pytest

from paybill.evals.matcher import MissingCapture, extract, first_difference, substitute

RESULT = {
    "tenant": {"id": "0f708d92-ca8a-4cc6-8265-6d9ade920c6e", "slug": "acme", "version": 3},
    "created_at": "2026-11-29T19:36:21.565470Z",
    "hash": "a" * 64,
    "steps": [{"name": "start", "ok": True}, {"name": "activate", "ok": True}],
    "flag": True,
}


@pytest.mark.parametrize(
    "expected",
    [
        {},
        {"tenant": {"slug": "acme"}},
        {"tenant": {"id": "<uuid>", "version": "<int>"}, "created_at": "<datetime>"},
        {"hash": "<hash>", "flag": "<any>", "tenant": "<present>"},
        {"steps": [{"name": "start"}, {"name": "activate"}]},
        {"steps": {"<contains>": [{"name": "activate"}]}},
        {"steps": {"<len>": 2}},
    ],
)
def test_matches(expected: dict) -> None:
    assert first_difference(expected, RESULT) is None


@pytest.mark.parametrize(
    ("expected", "path"),
    [
        ({"tenant": {"slug": "globex"}}, "tenant.slug"),
        ({"tenant": {"plan": "free"}}, "tenant.plan"),
        ({"tenant": {"slug": "<uuid>"}}, "tenant.slug"),
        ({"created_at": "<int>"}, "created_at"),
        ({"steps": [{"name": "start"}]}, "steps"),
        ({"steps": [{"name": "start"}, {"ok": False}]}, "steps[1].ok"),
        ({"steps": {"<contains>": [{"name": "nope"}]}}, "steps.<contains>[0]"),
        ({"steps": {"<len>": 3}}, "steps.<len>"),
        ({"flag": 1}, "flag"),
        ({"tenant": {"version": True}}, "tenant.version"),
    ],
)
def test_differences_name_the_path(expected: dict, path: str) -> None:
    found = first_difference(expected, RESULT)
    assert found is not None and found.path == path


def test_substitute_replaces_whole_strings_only() -> None:
    captured = {"run": "r-1", "n": 3}
    value = {"a": "${run}", "b": ["${n}", "x ${run}"], "c": 1}
    assert substitute(value, captured) == {"a": "r-1", "b": [3, "x ${run}"], "c": 1}
    with pytest.raises(MissingCapture):
        substitute({"a": "${nope}"}, captured)


def test_extract_follows_dotted_paths() -> None:
    assert extract(RESULT, "tenant.slug") == "acme"
    assert extract(RESULT, "steps.1.name") == "activate"
    with pytest.raises(KeyError):
        extract(RESULT, "steps.5.name")
