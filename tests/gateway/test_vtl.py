"""Mapping templates: Velocity with API Gateway's ``$input``, ``$util``, ``$context`` and
``$stageVariables``, and the overrides a template sets."""

from __future__ import annotations

import base64
import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidRequest
from modelyard.gateway.vtl import (
    MappingTemplateError,
    MappingTemplateFailed,
    Overrides,
    RequestData,
    check_template,
    render,
)
from modelyard.gateway.vtl_input import JavaList, JavaMap, JsonArray, java_value

BODY = json.dumps(
    {
        "name": "Ada",
        "instances": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}],
        "nested": {"list": [{"c": 5}], "text": "x", "flag": True, "none": None},
        "errorMessage": '{"key1":"var1","key2":{"arr":[1,2,3]}}',
    }
).encode()

CONTEXT: dict[str, Any] = {
    "requestId": "req-1",
    "httpMethod": "GET",
    "stage": "prod",
    "identity": {"sourceIp": "192.0.2.1", "userAgent": "curl/8"},
    "authorizer": {"principalId": "user-7", "claims": {"sub": "abc"}},
}

STAGE_VARIABLES = {"env": "prod", "quote": 'it\'s "x"/\n'}


def request(
    body: bytes = BODY,
    *,
    path: dict[str, str] | None = None,
    querystring: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> RequestData:
    querystring = {"items": "i1,i2"} if querystring is None else querystring
    return RequestData(
        body=body,
        path={"user_id": "u1"} if path is None else path,
        querystring=querystring,
        multi_querystring={name: [value] for name, value in querystring.items()},
        headers={"X-Api-Version": "3", "Content-Type": "application/json"}
        if headers is None
        else headers,
    )


def text(template: str, data: RequestData | None = None, **stage: str) -> str:
    return render(
        template,
        request=data or request(),
        context=CONTEXT,
        stage_variables=stage or STAGE_VARIABLES,
    ).text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Variables, directives, and the Java-like methods of strings, lists and maps.
        ("#set($a = 'x')$a$a", "xx"),
        ('#set($n = 2)#set($s = "n=$n")$s', "n=2"),
        ("#set($v = 2 + 3)$v", "5"),
        ("#set($v = 2)#if($v == 1)one#elseif($v == 2)two#else other#end", "two"),
        ("#if($flag)yes#else no#end", "yes"),  # null is truthy in API Gateway (see vtl.py)
        ('#if("$!nothing" != "")yes#else no#end', " no"),  # the idiom that tests for null
        ("#set($f = false)#if($f)yes#else no#end", " no"),
        ("#set($l = [1, 2, 3])$l.size() $l.get(1) $l.contains(2)", "3 2 true"),
        ("#set($m = {'a': 1})$m.get('a') $m.a", "1 1"),
        ("$input.params('user_id').length() $input.params('user_id').contains('1')", "2 true"),
        ("$input.params().path.keySet()", "[user_id]"),
        ("## a comment\nkept", "kept"),
        ("a\\", "a\\"),  # a lone backslash at the very end is text
        # Loops.
        ("#foreach($x in [1, 2, 3])$x#if($foreach.hasNext),#end#end", "1,2,3"),
        ("#foreach($x in ['a', 'b'])$foreach.index$velocityCount#end", "0112"),
        ("#foreach($i in [1..3])$i#end", "123"),
        ("#foreach($t in $input.path('$.instances'))$t.id:$t.tags.size();#end", "1:2;2:0;"),
        # Undefined and null references render as nothing, as in API Gateway.
        ("[$nothing]", "[]"),
        ("[$!nothing][${nothing}][$!{nothing}]", "[][][]"),
        ("[$context.nothing.deeper]", "[]"),
        ("[$nothing.method()]", "[]"),
        ("[$input.path('$').nested.none]", "[]"),
        ("[$input.path('$').items]", "[]"),  # not Python's dict.items
        ("[$input.path('$.instances').append]", "[]"),  # not Python's list.append
        # $input.body, $input.json, $input.path.
        ("$input.body", BODY.decode()),
        ("$input.json('$')", json.dumps(json.loads(BODY), separators=(",", ":"))),
        ("$input.json('$.instances[0]')", '{"id":1,"tags":["a","b"]}'),
        ("$input.json('$.name')", '"Ada"'),
        ("$input.json('$.instances[*].id')", "[1,2]"),
        ("$input.json('$.instances[?(@.id > 1)].id')", "[2]"),
        ("$input.json('name')", '"Ada"'),  # Jayway reads a path without $ from the root
        ("[$input.json('$.missing')]", "[]"),
        ("[$input.json('$.instances[7]')]", "[]"),
        ("$input.path('$.name')", "Ada"),
        ("$input.path('$').name", "Ada"),
        ("$input.path('$.instances').size()", "2"),
        ("$input.path('$.instances')[1].id", "2"),
        ("$input.path('$.nested')", '{list=[{"c":5}], text=x, flag=true, none=null}'),
        ("$input.path('$.nested.list')", '[{"c":5}]'),
        ("$input.path('$.nested').keySet()", "[list, text, flag, none]"),
        ("$input.path('$.nested').containsKey('text')", "true"),
        ("[$input.path('$.missing')]", "[]"),
        # $input.params: path, then query string, then headers (any case), else "".
        ("$input.params('user_id')", "u1"),
        ("$input.params('items')", "i1,i2"),
        ("$input.params('X-Api-Version')", "3"),
        ("$input.params('x-api-version')", "3"),
        ("[$input.params('nope')]", "[]"),
        ("$input.params().querystring.get('items')", "i1,i2"),
        ("$input.params().header.get('Content-Type')", "application/json"),
        # $util.
        ("$util.escapeJavaScript($stageVariables.quote)", 'it\\\'s \\"x\\"\\/\\n'),
        ("$util.escapeJavaScript('é😀\t')", "\\u00E9\\uD83D\\uDE00\\t"),
        ('$util.escapeJavaScript("it\'s").replaceAll("\\\\\'","\'")', "it's"),
        ("[$util.escapeJavaScript($nothing)]", "[]"),
        ("$util.parseJson($input.path('$.errorMessage')).key2.arr[0]", "1"),
        ("$util.parseJson('[1, 2]').size()", "2"),
        ("$util.urlEncode('a b&c=d~*é')", "a+b%26c%3Dd%7E*%C3%A9"),
        ("$util.urlDecode('a+b%26c%3D%C3%A9')", "a b&c=é"),
        ("$util.base64Encode('hello')", "aGVsbG8="),
        ("$util.base64Decode('aGVsbG8=')", "hello"),
        ("$util.base64Decode('aGVsbG8')", "hello"),  # padding is optional
        # $context and $stageVariables.
        ("$context.requestId $context.httpMethod $context.stage", "req-1 GET prod"),
        ("$context.identity.sourceIp|$context.identity.userAgent", "192.0.2.1|curl/8"),
        ("$context.authorizer.principalId $context.authorizer.claims.sub", "user-7 abc"),
        ("$stageVariables.env $stageVariables['env'] ${stageVariables['env']}", "prod prod prod"),
        ("[$stageVariables.nope]", "[]"),
    ],
)
def test_template(template: str, expected: str) -> None:
    assert text(template) == expected


@pytest.mark.parametrize(
    ("body", "template", "expected"),
    [
        # An empty payload reads as {} (so "body": $input.json('$') stays JSON on a GET).
        (b"", "$input.body", "{}"),
        (b"", "$input.json('$')", "{}"),
        (b"", "$input.path('$').size()", "0"),
        # A payload that is not JSON is one string: the text itself; deeper paths are empty.
        (b"hello world", "$input.path('$')", "hello world"),
        (b"hello world", "$input.json('$')", '"hello world"'),
        (b"a=1&b=2", "[$input.json('$.a')][$input.path('$.a')]", "[][]"),
        (b"a=1&b=2", "$input.body", "a=1&b=2"),
        # A JSON payload that is not an object.
        (b"[3, 4]", "$input.path('$')[1] $input.json('$[0]')", "4 3"),
        (b'"quoted"', "$input.path('$')", "quoted"),
        (b"12345678901234567890123", "$input.json('$')", "12345678901234567890123"),
    ],
)
def test_payloads(body: bytes, template: str, expected: str) -> None:
    assert text(template, request(body)) == expected


def test_params_are_searched_in_path_then_querystring_then_headers() -> None:
    everywhere = request(path={"id": "p"}, querystring={"id": "q"}, headers={"id": "h"})
    assert text("$input.params('id')", everywhere) == "p"
    no_path = request(path={}, querystring={"id": "q"}, headers={"ID": "h"})
    assert text("$input.params('id')", no_path) == "q"
    header_only = request(path={}, querystring={}, headers={"ID": "h"})
    assert text("$input.params('id')", header_only) == "h"


def test_all_params_template_from_the_reference() -> None:
    template = """#set($allParams = $input.params())
{
  "params" : {
    #foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
    "$type" : {
      #foreach($paramName in $params.keySet())
      "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
      #if($foreach.hasNext),#end
      #end
    }
    #if($foreach.hasNext),#end
    #end
  }
}"""
    data = request(headers={"X-Quote": 'say "hi"'})
    assert json.loads(text(template, data)) == {
        "params": {
            "path": {"user_id": "u1"},
            "querystring": {"items": "i1,i2"},
            "header": {"X-Quote": 'say "hi"'},
        }
    }


# -- the seed's templates ----------------------------------------------------------------

RATINGS_REQUEST_TEMPLATE = (
    "#set($items = $input.params('items').split(','))"
    '{"instances": [#foreach($item in $items)'
    '{"in0": ["$input.params(\'user_id\')"], "in1": ["$item"]}'
    "#if($foreach.hasNext),#end#end]}"
)

RATINGS_RESPONSE_TEMPLATE = (
    "#set($preds = $input.path('$.predictions'))"
    '{"ratings": [#foreach($p in $preds)$p.scores[0]#if($foreach.hasNext),#end#end]}'
)


def test_predicted_ratings_request_template() -> None:
    data = request(b"", path={"user_id": "user-42"}, querystring={"items": "i1,i2,i3"})
    assert json.loads(text(RATINGS_REQUEST_TEMPLATE, data)) == {
        "instances": [
            {"in0": ["user-42"], "in1": ["i1"]},
            {"in0": ["user-42"], "in1": ["i2"]},
            {"in0": ["user-42"], "in1": ["i3"]},
        ]
    }


def test_predicted_ratings_response_template() -> None:
    answer = json.dumps(
        {"predictions": [{"scores": [4.25]}, {"scores": [3.0]}, {"scores": [1e-05]}]}
    ).encode()
    rendered = render(
        RATINGS_RESPONSE_TEMPLATE,
        request=request(b"", querystring={"items": "i1,i2,i3"}),
        context=CONTEXT,
        stage_variables={},
        body=answer,
    )
    assert json.loads(rendered.text) == {"ratings": [4.25, 3.0, 1e-05]}
    assert rendered.response_override == Overrides()


def test_body_replaces_the_request_payload_but_not_its_parameters() -> None:
    rendered = render(
        "$input.json('$.answer') $input.params('user_id')",
        request=request(),
        context={},
        stage_variables={},
        body=b'{"answer": 42}',
    )
    assert rendered.text == "42 u1"


# -- overrides ---------------------------------------------------------------------------


def test_response_override_status_and_headers_are_captured() -> None:
    rendered = render(
        "#set($context.responseOverride.status = 400)"
        "#set($context.responseOverride.header.X-Error = 'bad item')"
        "status=$context.responseOverride.status",
        request=request(),
        context=CONTEXT,
        stage_variables={},
    )
    assert rendered.text == "status=400"
    assert rendered.response_override == Overrides(header={"X-Error": "bad item"}, status=400)
    assert rendered.request_override == Overrides()


def test_request_overrides_are_captured() -> None:
    rendered = render(
        "#set($context.requestOverride.header.X-Model = 'ratings')"
        "#set($context.requestOverride.querystring.top = 5)"
        "#set($context.requestOverride.path.user_id = 'U1')"
        "$context.requestOverride.header.X-Model",
        request=request(),
        context=CONTEXT,
        stage_variables={},
    )
    assert rendered.text == "ratings"
    assert rendered.request_override == Overrides(
        header={"X-Model": "ratings"}, querystring={"top": "5"}, path={"user_id": "U1"}
    )
    assert rendered.response_override.status is None


@pytest.mark.parametrize(("value", "status"), [("201", 201), ("'204'", 204), ("$nothing", None)])
def test_response_status_override_values(value: str, status: int | None) -> None:
    template = f"#set($context.responseOverride.status = {value})"
    rendered = render(template, request=request(), context={}, stage_variables={})
    assert rendered.response_override.status == status


@pytest.mark.parametrize("value", ["'teapot'", "42", "true"])
def test_response_status_override_must_be_a_status_code(value: str) -> None:
    template = f"#set($context.responseOverride.status = {value})"
    with pytest.raises(MappingTemplateFailed, match="status"):
        render(template, request=request(), context={}, stage_variables={})


def test_renderings_do_not_share_state() -> None:
    context = {"identity": {"sourceIp": "192.0.2.1"}}
    setter = (
        "#set($context.responseOverride.status = 500)"
        "#set($context.identity.sourceIp = 'changed')"
        "#macro(hello)hi#end#hello()"
    )
    assert render(setter, request=request(), context=context, stage_variables={}).text == "hi"
    assert context == {"identity": {"sourceIp": "192.0.2.1"}}  # the caller's mapping is kept
    again = render(setter, request=request(), context=context, stage_variables={})
    assert again.text == "hi"  # the macro is defined afresh, not "redefined"
    reader = render(
        "[$context.responseOverride.status]$context.identity.sourceIp",
        request=request(),
        context=context,
        stage_variables={},
    )
    assert reader.text == "[]192.0.2.1"
    assert reader.response_override.status is None


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "line"),
    [
        ("{\n  #if($x\n}", 2),
        ("a\nb\n#foreach($a in $b) x", 3),
        ("#set($x = )", 1),
    ],
)
def test_template_that_does_not_parse(template: str, line: int) -> None:
    with pytest.raises(MappingTemplateError) as caught:
        text(template)
    assert caught.value.line == line
    assert f"line {line}" in str(caught.value)
    assert isinstance(caught.value, InvalidRequest)
    with pytest.raises(MappingTemplateError):
        check_template(template)


@pytest.mark.parametrize(
    "template",
    [
        "$input.__class__",
        "ok\n$input.path('$').__init__.__globals__",
        "#set($f = '{0}')$f.format($input)",
        "#evaluate('$input')",
        "#include('secrets.txt')",
        "#parse('other.vtl')",
    ],
)
def test_templates_cannot_reach_python_internals(template: str) -> None:
    with pytest.raises(MappingTemplateError, match="not"):
        check_template(template)


def test_a_json_member_named_format_is_still_readable() -> None:
    data = request(b'{"format": "csv"}')
    assert text("$input.path('$').format", data) == "csv"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("ok\n$input.json('$[')", "line 2"),
        ("$util.parseJson('not json')", "not JSON"),
        ("$util.base64Decode('!!')", "not base64"),
        ("#macro(loop)#loop()#end#loop()", "failed"),
    ],
)
def test_template_that_fails_while_rendering(template: str, message: str) -> None:
    check_template(template)  # it parses
    with pytest.raises(MappingTemplateFailed, match=message):
        text(template)


def test_java_values_render_like_java_and_survive_copies() -> None:
    value = java_value({"a": [{"b": None}, True], "c": {"d": 1.5}})
    assert str(value) == '{a=[{"b":null},true], c={d=1.5}}'
    assert str(JavaList(["x", None, False])) == "[x, null, false]"
    for duplicate in (copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert duplicate == value
        assert type(duplicate) is JavaMap
        assert type(duplicate["a"]) is JsonArray
        assert str(duplicate) == str(value)


# -- properties --------------------------------------------------------------------------

PLAIN_TEXT = st.text(alphabet=st.characters(blacklist_characters="$#"))


@given(PLAIN_TEXT)
def test_text_without_directives_or_references_is_unchanged(template: str) -> None:
    assert text(template) == template


@given(st.text())
def test_escaped_javascript_in_a_json_string_parses_back(value: str) -> None:
    # API Gateway's reference: turn \' back into ' for JSON, as below.
    template = '"$util.escapeJavaScript($stageVariables.value).replaceAll("\\\\\'","\'")"'
    assert json.loads(text(template, value=value)) == value


@given(st.text())
def test_escaped_javascript_is_printable_ascii(value: str) -> None:
    escaped = text("$util.escapeJavaScript($stageVariables.value)", value=value)
    assert all(" " <= char <= "\x7f" for char in escaped)
    assert ("'" in value) == ("\\'" in escaped)


@given(st.text())
def test_url_encoding_round_trips(value: str) -> None:
    encoded = text("$util.urlEncode($stageVariables.value)", value=value)
    assert set(encoded) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*_+%"
    )
    assert text("$util.urlDecode($util.urlEncode($stageVariables.value))", value=value) == value


@given(st.text())
def test_base64_round_trips(value: str) -> None:
    encoded = text("$util.base64Encode($stageVariables.value)", value=value)
    assert encoded == base64.b64encode(value.encode()).decode()
    assert (
        text("$util.base64Decode($util.base64Encode($stageVariables.value))", value=value) == value
    )
