"""tests/node/ayepi_oracle.mjs, the JavaScript oracle of ayepi's texts for the C tests, against facts
known without it: the captured bytes of @ayepi/redis 0.4.0 (tests/vectors/ayepi-0.4.0.monitor.txt) and
SPEC.md 3's examples, and how ECMAScript's JSON.stringify, Array.prototype.sort, URLSearchParams and
an object's key order behave (written out here, not computed by a JS engine)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "tests" / "node" / "ayepi_oracle.mjs"


def ask(*requests: dict[str, Any]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "node is not installed (scripts/bootstrap installs it)"
    lines = "".join(json.dumps({"id": i, **r}) + "\n" for i, r in enumerate(requests))
    out = subprocess.run([node, str(ORACLE)], input=lines.encode(), capture_output=True, timeout=30, check=True)
    # lines end at "\n" only: a text holds U+2028 raw, which str.splitlines() would split at
    answers = [json.loads(line) for line in out.stdout.decode("utf-8").split("\n") if line]
    assert [a["id"] for a in answers] == list(range(len(requests))), answers
    return answers


def texts(*requests: dict[str, Any]) -> list[str]:
    answers = ask(*requests)
    assert all("text" in a for a in answers), answers
    return [a["text"] for a in answers]


def test_the_captured_entry_and_envelope() -> None:
    entry, env = texts(
        {"kind": "cache_entry", "body": "{}", "storedAt": 0, "expires": 500, "staleUntil": 700,
         "method": "GET", "path": "/x", "key": "K"},
        {"kind": "envelope", "ch": "progress", "params": {"job": "j1"}, "data": {"pct": 77}})
    # the capture's SET and PUBLISH values, as MONITOR printed them (its \" undone)
    assert entry == ('{"body":"{}","status":200,"headers":[["content-type","application/json"]],"storedAt":0,'
                     '"expires":500,"staleUntil":700,"bytes":2,"method":"GET","path":"/x","key":"K"}')
    assert env == '{"ch":"progress","params":{"job":"j1"},"data":{"pct":77}}'


def test_spec_examples() -> None:
    key, report, entry = texts(
        {"kind": "cache_key", "method": "get", "path": "/users/:id", "query": "q=x", "vary": "u1"},
        {"kind": "cache_key", "method": "GET", "path": "/report", "query": [["b", "2"], ["a", "1"]], "vary": "u1"},
        {"kind": "cache_entry", "result": {"id": "1", "n": 1}, "storedAt": 1795298432317, "expires": 1795298462317,
         "staleUntil": 1795298467317, "method": "GET", "path": "/users/:id",
         "key": '["GET","/users/:id",[["q","x"]],null,"u1"]'})
    assert key == '["GET","/users/:id",[["q","x"]],null,"u1"]'
    assert report == '["GET","/report",[["a","1"],["b","2"]],null,"u1"]'
    assert entry == ('{"body":"{\\"id\\":\\"1\\",\\"n\\":1}","status":200,"headers":[["content-type","application/json"]],'
                     '"storedAt":1795298432317,"expires":1795298462317,"staleUntil":1795298467317,"bytes":16,'
                     '"method":"GET","path":"/users/:id","key":"[\\"GET\\",\\"/users/:id\\",[[\\"q\\",\\"x\\"]],null,\\"u1\\"]"}')


def test_notifications() -> None:
    assert texts({"kind": "done", "itemId": "i1", "groupId": "g1"},
                 {"kind": "done", "itemId": "i1", "groupId": "g1", "error": "Error: boom"},
                 {"kind": "group_done", "groupId": "g1"}) == [
        '{"kind":"done","id":"i1","groupId":"g1"}',
        '{"kind":"done","id":"i1","groupId":"g1","error":"Error: boom"}',
        '{"kind":"group-done","groupId":"g1"}']


def test_numbers_as_json_stringify_writes_them() -> None:
    # -0 is "0"; integers up to 1e21 in full, then exponent with a sign; small ones below 1e-6 too
    values = [-0.0, 1e20, 1e21, 1.5e300, 5e-7, 0.000001, 0.1 + 0.2, 2**53 + 2, -1e-7]
    got = texts(*({"kind": "envelope", "ch": "c", "data": v} for v in values))
    want = ["0", "100000000000000000000", "1e+21", "1.5e+300", "5e-7", "0.000001", "0.30000000000000004",
            "9007199254740994", "-1e-7"]
    assert got == ['{"ch":"c","params":{},"data":%s}' % w for w in want]


def test_strings_as_json_stringify_writes_them() -> None:
    # U+2028/9, DEL, non-ASCII and emoji raw; controls as \n or \u00XX (lower-case hex); a lone
    # surrogate escaped (well-formed JSON.stringify), a pair raw; "/" and "<" not escaped
    (got,) = texts({"kind": "envelope", "ch": "c", "params": None,
                    "data": "\u2028\u2029\x7f\u00e9\U0001F600\n\x01\x1f\ud800x\udfff</"})
    assert got == '{"ch":"c","params":{},"data":"\u2028\u2029\x7f\u00e9\U0001F600\\n\\u0001\\u001f\\ud800x\\udfff</"}'


def test_cache_key_sorting() -> None:
    emoji, integers, query, pairs, nested = texts(
        # UTF-16 code units: U+1F600 is D83D DE00, below FF61; code points (UTF-8 bytes) order them the
        # other way round
        {"kind": "cache_key", "method": "GET", "path": "/", "vary": {"\uff61": 1, "\U0001F600": 2, "z": 3}},
        # integer-like keys first, in numeric order, whatever the sort gave ("10" < "9" as strings)
        {"kind": "cache_key", "method": "GET", "path": "/", "body": {"b": 1, "10": 2, "9": 3, "a": 4, "-1": 5}},
        # a raw query is parsed: "+" is a space, %XX decoded; pairs sorted by name, then value
        {"kind": "cache_key", "method": "GET", "path": "/", "query": "b=2&a=1&a=0+x%21"},
        # pairs become USVStrings: a lone surrogate is U+FFFD
        {"kind": "cache_key", "method": "GET", "path": "/", "query": [["k", "\ud800"]]},
        # nested objects sorted too, arrays keep their order, null and absent body/vary are null
        {"kind": "cache_key", "method": "post", "path": "/p", "body": {"y": [{"b": 1, "a": 2}], "x": None}})
    assert emoji == '["GET","/",[],null,{"z":3,"\U0001F600":2,"\uff61":1}]'
    assert integers == '["GET","/",[],{"9":3,"10":2,"-1":5,"a":4,"b":1},null]'
    assert query == '["GET","/",[["a","0 x!"],["a","1"],["b","2"]],null,null]'
    assert pairs == '["GET","/",[["k","\ufffd"]],null,null]'
    assert nested == '["POST","/p",[],{"x":null,"y":[{"a":2,"b":1}]},null]'


def test_bytes_are_utf8_lengths() -> None:
    got = texts(*({"kind": "cache_entry", "body": b, "storedAt": 0, "expires": 0, "staleUntil": 0, "method": "GET",
                   "path": "/", "key": "k"} for b in ("", "\u00e9\U0001F600", "\ud800", "\u2028")))
    assert [json.loads(t)["bytes"] for t in got] == [0, 6, 3, 3]


def test_errors_are_answers() -> None:
    bad = ask({"kind": "nope"}, {"kind": "cache_key", "path": "/"})
    assert [a.get("error", "").split(":")[0] for a in bad] == ["TypeError", "TypeError"]
