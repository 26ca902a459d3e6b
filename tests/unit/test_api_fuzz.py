"""Schema-driven fuzzing: for every operation in the app's own OpenAPI document, request
bodies generated from its schema (and arbitrary JSON), with path parameters both real and
random. No request may produce a server error (5xx).

The schema-to-strategy translation is the small subset of JSON Schema that FastAPI and
pydantic emit here ($ref, anyOf/oneOf, enum, examples, objects, arrays, strings with a
pattern, length or date format, numbers, booleans, null).
"""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.clock import SimulatedClock
from tests.unit.test_api_helpers import CASE, CASEWORKER, SYSTEM, Api, make_api

FLOATS = st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
SYSTEM_PATHS = {"/events", "/receipts"}
# The edges too (issue 17): offsets of +-23:59 push an instant past the year's end.
ZONES = st.sampled_from([UTC, ZoneInfo("Europe/Copenhagen"),
                         timezone(timedelta(hours=23, minutes=59)),
                         timezone(-timedelta(hours=23, minutes=59))])
EDGE_DATES = ["0001-01-01", "1999-12-31", "2000-01-01", "2100-12-31", "2101-01-01",
              "9999-12-31"]
EDGE_DATETIMES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                  "2100-12-31T23:59:59-23:59", "2000-01-01T00:00:00+23:59"]
# Huge and hostile texts (issue 17): CJK the fonts lack, CPR spellings, controls.
EDGE_TEXTS = ["中" * 5000, "x" * 5000, "0101 90 1234", "01.01.90-1234", "010190\u20111234",
              "Mette\r\nHansen", "lise\x00@eksempel.dk", "x,evil@attacker.dk"]


def from_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for combined in ("anyOf", "oneOf"):
        if combined in schema:
            return st.one_of([from_schema(s, components) for s in schema[combined]])
    generated = _typed(schema, components)
    if schema.get("examples"):
        return st.sampled_from(schema["examples"]) | generated
    return generated


def _typed(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    if kind == "object":
        properties = {k: from_schema(v, components)
                      for k, v in schema.get("properties", {}).items()}
        if not properties:
            return st.dictionaries(st.text(max_size=10), JSON, max_size=4)
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in properties.items() if k in required},
            optional={k: v for k, v in properties.items() if k not in required})
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), components),
                        min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if kind == "string":
        return _string(schema)
    simple = {"integer": st.integers(), "number": FLOATS,
              "boolean": st.booleans(), "null": st.none()}
    return simple.get(kind, JSON)  # type: ignore[arg-type]


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date":
        return st.dates().map(lambda d: d.isoformat()) | st.sampled_from(EDGE_DATES)
    if schema.get("format") == "date-time":
        return (st.datetimes(timezones=ZONES).map(lambda d: d.isoformat())
                | st.sampled_from(EDGE_DATETIMES))
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0),
                   max_size=min(schema.get("maxLength", 40), 40)) | st.sampled_from(EDGE_TEXTS)


@cache
def operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the API router declares."""
    from notifier.api.routes import router

    return sorted((method.lower(), route.path) for route in router.routes
                  for method in getattr(route, "methods", ()) if method != "HEAD")


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    api = make_api(tmp_path, clock)
    api.open_case()
    return api


def strategies(api: Api, method: str, path: str) -> tuple[st.SearchStrategy[Any],
                                                          st.SearchStrategy[str]]:
    """The body and URL strategies of one operation, from the served OpenAPI document."""
    document = api.client.get("/openapi.json", headers=SYSTEM).json()
    operation = document["paths"][path][method]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    body = (from_schema(content["schema"], document["components"]["schemas"]) | JSON
            if content else st.none())
    letter_ids = [x["letter_id"] for x in api.letters()]
    cases = st.sampled_from([CASE]) | st.text(min_size=1, max_size=70)
    letters = st.sampled_from(letter_ids) | st.text(min_size=1, max_size=40)
    url = st.builds(lambda case, letter: path.replace("{case_id}", quote(case, safe=""))
                    .replace("{letter_id}", quote(letter, safe="")), cases, letters)
    return body, url


@pytest.mark.parametrize(("method", "path"), operations())
def test_no_request_makes_a_server_error(api: Api, method: str, path: str) -> None:
    """Whatever the body and path parameters, the answer is a 2xx or 4xx, never 5xx."""
    body, url = strategies(api, method, path)
    headers = SYSTEM if path in SYSTEM_PATHS else CASEWORKER

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(body=body, url=url)
    def check(body: Any, url: str) -> None:
        if method == "get":
            response = api.client.get(url, headers=headers)
        else:
            response = api.client.request(method.upper(), url, json=body, headers=headers)
        assert response.status_code < 500, (url, body, response.text)

    check()
