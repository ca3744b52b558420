"""render.check: what Kuscia's config renderer (Go text/template after the {{{...}}} rewrite)
would hit in an AppImage config template.

Columns count characters (code points): a tab, a CJK character and an emoji are one column each.
The parse-error cases were checked against Go's text/template with Kuscia's rewrite applied.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.core.kuscia.render import BUILTIN_VARIABLES, Problem, check

# The ports of a secretflow-like deploy template.
SF_PORTS = ("spu", "fed", "global", "node-manager", "object-manager", "client-server", "inference")


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.error]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if not p.error]


# ---------------------------------------------------------------------------------------------
# Templates Kuscia renders without trouble.

SECRETFLOW_LIKE = """{
  "task_id": "{{.TASK_ID}}",
  "task_input_config": "{{.TASK_INPUT_CONFIG}}",
  "task_cluster_def": "{{.TASK_CLUSTER_DEFINE}}",
  "progress_url": "http://reporter.master.svc/report/progress?task_id={{.TASK_ID}}",
  "allocated_ports": "{{.ALLOCATED_PORTS}}"
}
"""

PSI_LIKE = """{
  "task_id": "{{.TASK_ID}}",
  "self_party": "{{{.TASK_CLUSTER_DEFINE.parties[.TASK_CLUSTER_DEFINE.selfPartyIdx].name}}}",
  "psi_port": {{{.ALLOCATED_PORTS.ports[name=psi].port}}},
  "peer": "{{{.TASK_CLUSTER_DEFINE.parties[name=bob].services[0].endpoints[0]}}}"
}
"""

DATAPROXY_LIKE = """serving:
  id: "{{.SERVING_ID}}"
  domain: {{.KUSCIA_DOMAIN_ID}}
  grpc_port: {{.KUSCIA_PORT_GRPC_NUMBER}}
  ports: "{{.ALLOCATED_PORTS}}"
  input: "{{.INPUT_CONFIG}}"
"""

NGINX_LIKE = """server {
    listen       {{{.ALLOCATED_PORTS.ports[name=test].port}}};
    server_name  _;
    location / {
        root   /usr/share/nginx/html;
    }
}
"""

CONTROL_FLOW = """{{- /* parties, one line each */ -}}
{{- $self := .KUSCIA_DOMAIN_ID -}}
{{if eq .TASK_ID ""}}no task{{else if .SERVING_ID}}serving {{.SERVING_ID}}{{else}}idle{{end}}
{{range $i, $v := .}}{{if eq $i "TASK_ID"}}{{continue}}{{end}}{{if gt (len $v) 100}}{{break}}{{end}}{{end}}
{{with $t := .TASK_ID}}{{$t}}{{else with .SERVING_ID}}{{.}}{{else}}none{{end}}
{{$self = printf "%s-%d" $self 1}}{{$self | printf "%q"}}
"""

DEFINES = """{{define "peer"}}{{.}}:{{index . 0 | print}}{{end -}}
{{block "header" .}}# {{.KUSCIA_DOMAIN_ID}}{{end}}
{{template "peer" .TASK_ID}}
"""

GOOD = {
    "no action at all": "listen 8080;\n",
    "braces that are not actions": "{ } {x} }} {.A} { {",
    "secretflow-like task config": SECRETFLOW_LIKE,
    "psi-like task config with selectors": PSI_LIKE,
    "dataproxy-like serving config": DATAPROXY_LIKE,
    "nginx config with a named port": NGINX_LIKE,
    "control flow, variables, break and continue": CONTROL_FLOW,
    "define, block and template": DEFINES,
    "trim markers on both sides": "a  {{- .TASK_ID -}}  b",
    "trim marker with a newline after the dash": "a\n{{-\n.TASK_ID\n-}}\nb",
    "comment": "{{/* a comment */}}x",
    "trimmed multi-line comment": "x\n{{- /* one\n two */ -}}\ny",
    "triple braces inside a comment": "{{/* {{{.NOT_A_VARIABLE}}} */}}",
    "multi-line action": "{{if and\n    .TASK_ID\n    .TASK_INPUT_CONFIG}}both{{end}}",
    "raw string over lines": "{{print `a\nb`}}",
    "string holding delimiters": '{{"{{"}}.TASK_ID{{"}}"}}',
    "literals": "{{print 1 -2 0x1F 0o17 0b1_0 1_000 1.5e3 0x1p-2 .5 1i 1+2i 'a' '\\n' true nil}}",
    "parenthesized pipeline": '{{printf "%s:%s" (print .TASK_ID) (.KUSCIA_DOMAIN_ID | print)}}',
    "kuscia called directly": '{{kuscia "TASK_CLUSTER_DEFINE.selfPartyIdx"}}',
    "triple braces with two closing braces": "{{{.TASK_ID}}",
    "dot and dollar": "{{.}} {{$}} {{$.TASK_ID}}",
    "every built-in variable": "".join("{{." + name + "}}" for name in sorted(BUILTIN_VARIABLES)),
    "whole ALLOCATED_PORTS list": "{{{.ALLOCATED_PORTS.ports}}}",
    "CRLF line ends": "a\r\n{{.TASK_ID}}\r\n",
}


@pytest.mark.parametrize("text", GOOD.values(), ids=GOOD.keys())
def test_good_templates_have_no_problems(text):
    assert check(text, ports=(*SF_PORTS, "psi", "grpc", "test")) == []


# ---------------------------------------------------------------------------------------------
# Templates Kuscia fails on: (text, line, column, message substring); one error each.

BAD = {
    "unclosed action": ("a {{.TASK_ID", 1, 3, "unclosed action"),
    # Go names the line where the text ran out, and the one the action started on.
    "unclosed action on a later line": ("x\ny\n  {{ .TASK_ID\n", 4, 1, "unclosed action started at line 3"),
    "if without end": ("x\n  {{if .TASK_ID}}y", 2, 3, "{{if}} has no matching {{end}}"),
    "range without end": ("{{range .}}{{.}}", 1, 1, "{{range}} has no matching {{end}}"),
    "else branch without end": ("{{with .TASK_ID}}a{{else}}b", 1, 1, "{{with}} has no matching {{end}}"),
    "define without end": ('{{define "t"}}x', 1, 1, "{{define}} has no matching {{end}}"),
    "end without if": ("a\n{{end}}", 2, 1, "{{end}} without an open {{if}}/{{range}}/{{with}}"),
    "else without if": ("{{else}}", 1, 1, "{{else}} without an open {{if}}"),
    "second else": ("{{if 1}}{{else}}{{else}}{{end}}", 1, 17, "expected end; found {{else}}"),
    "else if inside range": ("{{range .}}{{else if 1}}{{end}}", 1, 12, "unexpected <if> in input"),
    "undefined function": ("{{ foo .TASK_ID }}", 1, 1, 'function "foo" not defined'),
    "sprig is not there": ("{{.TASK_ID | quote}}", 1, 1, 'function "quote" not defined'),
    "undefined variable": ("{{$x}}", 1, 1, 'undefined variable "$x"'),
    "variable out of its scope": ("{{if 1}}{{$x := 1}}{{end}}{{$x}}", 1, 27, 'undefined variable "$x"'),
    "variable inside define": ('{{$x := 1}}{{define "t"}}{{$x}}{{end}}', 1, 26, 'undefined variable "$x"'),
    "unterminated string": ('{{printf "abc}}', 1, 1, "unterminated quoted string"),
    "string across lines": ('{{print "a\nb"}}', 1, 1, "unterminated quoted string"),
    "unterminated raw string": ("{{print `abc}}", 1, 1, "unterminated raw quoted string"),
    "bad escape": ('{{print "\\q"}}', 1, 1, "invalid syntax"),
    "long character constant": ("{{print 'ab'}}", 1, 1, "malformed character constant"),
    "empty character constant": ("{{print ''}}", 1, 1, "invalid syntax"),
    "bad number": ("{{print 1x}}", 1, 1, 'bad number syntax: "1x"'),
    "octal-looking number": ("{{print 089}}", 1, 1, 'integer overflow: "089"'),
    "huge number": ("{{print 99999999999999999999}}", 1, 1, "integer overflow"),
    "unclosed comment": ("x {{/* never closed", 1, 3, "unclosed comment"),
    "comment followed by more": ("{{/* c */ .TASK_ID}}", 1, 1, "comment ends before closing delimiter"),
    "missing value for if": ("{{if}}{{end}}", 1, 1, "missing value for if"),
    "empty action": ("{{}}", 1, 1, "missing value for command"),
    "break outside range": ("{{break}}", 1, 1, "{{break}} outside {{range}}"),
    "break in range else": ("{{range .}}{{else}}{{break}}{{end}}", 1, 20, "{{break}} outside {{range}}"),
    "unclosed paren": ("{{print (.TASK_ID}}", 1, 1, "unclosed left paren"),
    "stray right paren": ("{{print .TASK_ID)}}", 1, 1, "unexpected right paren"),
    "literal as a pipeline stage": ("{{.TASK_ID | 2}}", 1, 1, "non executable command in pipeline stage 2"),
    "field of a literal": ('{{"a".b}}', 1, 1, 'unexpected . after term "\\"a\\""'),
    "too many range variables": ("{{range $a, $b, $c := .}}{{end}}", 1, 1, "too many declarations in range"),
    "define not at the top": ('{{if 1}}{{define "t"}}{{end}}{{end}}', 1, 9, "unexpected <define> in command"),
    "two definitions": (
        '{{define "t"}}a{{end}}{{define "t"}}b{{end}}',
        1,
        23,
        'multiple definition of template "t"',
    ),
    "selector in double braces": ("{{.TASK_CLUSTER_DEFINE.parties[0]}}", 1, 1, "bad character U+005B '['"),
    "quotes in a selector break the rewrite": (
        '{{{.TASK_CLUSTER_DEFINE.parties[name="alice"].role}}}',
        1,
        1,
        "bad character U+0022",
    ),
    "newline inside triple braces": (
        "{{{.TASK_CLUSTER_DEFINE\n.selfPartyIdx}}}",
        1,
        1,
        "unterminated quoted string",
    ),
    "trim marker needs a space": ("{{-.TASK_ID}}", 1, 1, 'bad number syntax: "-.T"'),
    "right trim marker needs a space": ("{{.TASK_ID-}}", 1, 1, "bad character U+002D '-'"),
    "unprintable character": ("{{print \x01}}", 1, 1, "unrecognized character in action: U+0001"),
    "multi-line action with a bad function": ("a\n{{if\n  .TASK_ID\n  foo}}x{{end}}", 4, 3, 'function "foo"'),
    # Go accepts these but execution fails (errors as well: Kuscia fails the pod's render).
    # Go places a field chain at its second field.
    "field of a variable": (
        "{{.TASK_CLUSTER_DEFINE.selfPartyIdx}}",
        1,
        23,
        "can't evaluate field selfPartyIdx",
    ),
    "field of $.variable": ("{{$.TASK_ID.x}}", 1, 4, "can't evaluate field x"),
    "field of a string dot": (
        "{{with .TASK_ID}}{{.x}}{{end}}",
        1,
        20,
        "can't evaluate field x in type string",
    ),
    "field of a ranged value": ("{{range .}}{{.x}}{{end}}", 1, 14, "can't evaluate field x in type string"),
    "range over a string": ("{{range .TASK_ID}}{{end}}", 1, 9, "{{range}} over a string"),
    "undefined template": ('{{template "t"}}', 1, 12, 'template "t" not defined'),
    "wrong argument count": (
        "{{len .TASK_ID .SERVING_ID}}",
        1,
        3,
        "wrong number of args for len: want 1 got 2",
    ),
    "too few arguments": ("{{printf}}", 1, 3, "want at least 1 got 0"),
    "piped argument counts": ("{{.TASK_ID | len 1}}", 1, 14, "want 1 got 2"),
    "function as an argument": ("{{print len}}", 1, 9, "wrong number of args for len: want 1 got 0"),
    "eq with one operand": ("{{eq .TASK_ID}}", 1, 3, "missing argument for comparison"),
    "kuscia with a number": ("{{kuscia 1}}", 1, 10, "kuscia needs a string"),
}


@pytest.mark.parametrize(("text", "line", "column", "message"), BAD.values(), ids=BAD.keys())
def test_bad_templates_report_one_error_where_it_is(text, line, column, message):
    problems = errors(check(text, ports=SF_PORTS))
    assert len(problems) == 1, problems
    assert (problems[0].line, problems[0].column) == (line, column)
    assert message in problems[0].message


def test_parsing_stops_at_the_first_error_as_go_does():
    problems = check("{{foo}}\n{{bar}}\n{{end}}", ports=())
    assert [(p.line, p.message) for p in problems] == [(1, 'function "foo" not defined')]


# ---------------------------------------------------------------------------------------------
# Naming ports.

PORT_ERRORS = {
    "name not declared": (
        "{{{.ALLOCATED_PORTS.ports[name=fedd].port}}}",
        ("fed",),
        "names no declared port 'fedd'",
    ),
    "lists the declared ports": (
        "{{{.ALLOCATED_PORTS.ports[name=x].port}}}",
        ("a", "b"),
        "container ports: a, b",
    ),
    "no ports at all": ("{{{.ALLOCATED_PORTS.ports[name=x].port}}}", (), "the containers declare no ports"),
    "names are case-sensitive": ("{{{.ALLOCATED_PORTS.ports[name=FED].port}}}", ("fed",), "'FED'"),
    "dotted name is rewritten": ("{{{.ALLOCATED_PORTS.ports[name=a.b].port}}}", ("a.b",), "'a#b'"),
    "index out of range": ("{{{.ALLOCATED_PORTS.ports[2].port}}}", ("a", "b"), "ports[2] is out of range"),
    "negative index as long as the list": ("{{{.ALLOCATED_PORTS.ports[-1].port}}}", ("a",), "out of range"),
    "index that is no number": ("{{{.ALLOCATED_PORTS.ports[one].port}}}", ("a",), "selects nothing"),
    "kuscia called directly": ('{{kuscia "ALLOCATED_PORTS.ports[name=x].port"}}', ("fed",), "'x'"),
    "port env var": (
        "{{.KUSCIA_PORT_FEDD_NUMBER}}",
        ("fed",),
        "KUSCIA_PORT_FEDD_NUMBER names no declared port",
    ),
    "port env var in triple braces": ("{{{.KUSCIA_PORT_X_NUMBER}}}", ("fed",), "KUSCIA_PORT_FED_NUMBER"),
}


@pytest.mark.parametrize(("text", "ports", "message"), PORT_ERRORS.values(), ids=PORT_ERRORS.keys())
def test_port_that_is_not_declared_is_an_error(text, ports, message):
    problems = check(text, ports=ports)
    assert len(problems) == 1, problems
    assert problems[0].error
    assert message in problems[0].message


PORTS_OK = {
    "by name": ("{{{.ALLOCATED_PORTS.ports[name=fed].port}}}", ("spu", "fed")),
    "whole entry": ("{{{.ALLOCATED_PORTS.ports[name=fed]}}}", ("fed",)),
    "only index of a single port": ("{{{.ALLOCATED_PORTS.ports[0].port}}}", ("fed",)),
    "env var with a dash in the name": ("{{.KUSCIA_PORT_NODE_MANAGER_NUMBER}}", ("node-manager",)),
    "env var the containers set themselves": ("{{.KUSCIA_PORT_EXTRA_NUMBER}}", ()),
    "filter on another key": ("{{{.ALLOCATED_PORTS.ports[scope=Cluster].port}}}", ("fed",)),
    "index read from a variable": ("{{{.ALLOCATED_PORTS.ports[.TASK_CLUSTER_DEFINE.selfPartyIdx]}}}", ("a",)),
}


@pytest.mark.parametrize(("text", "ports"), PORTS_OK.values(), ids=PORTS_OK.keys())
def test_declared_port_is_fine(text, ports):
    env = ("KUSCIA_PORT_EXTRA_NUMBER",) if "EXTRA" in text else ()
    assert check(text, ports=ports, env=env) == []


def test_index_among_several_ports_warns_that_the_order_is_not_fixed():
    (problem,) = check("{{{.ALLOCATED_PORTS.ports[0].port}}}", ports=("spu", "fed"))
    assert not problem.error
    assert "ports[name=spu]" in problem.message


def test_misspelt_port_field_warns():
    (problem,) = check("{{{.ALLOCATED_PORTS.ports[name=fed].prot}}}", ports=("fed",))
    assert not problem.error
    assert "'prot'" in problem.message


def test_port_errors_count_even_when_the_template_does_not_parse():
    problems = check("{{{.ALLOCATED_PORTS.ports[name=x].port}}}\n{{if 1}}", ports=("fed",))
    assert [(p.line, p.error) for p in problems] == [(1, True), (2, True)]
    assert "'x'" in problems[0].message
    assert "has no matching {{end}}" in problems[1].message


def test_port_error_points_at_the_triple_braces_on_their_line():
    (problem,) = check('{\n  "port": {{{.ALLOCATED_PORTS.ports[name=x].port}}}\n}', ports=("fed",))
    assert (problem.line, problem.column) == (2, 11)


# ---------------------------------------------------------------------------------------------
# Variables Kuscia does not provide: warnings.


def test_unknown_variable_warns_where_it_is():
    (problem,) = check("a: {{.TASK_IDD}}", ports=())
    assert (problem.line, problem.column, problem.error) == (1, 6, False)
    assert "unknown variable TASK_IDD" in problem.message


def test_unknown_variable_in_triple_braces_warns():
    (problem,) = check("{{{.OSS_INFO.endpoints[0]}}}", ports=())
    assert not problem.error
    assert "OSS_INFO" in problem.message
    assert "config manager holds it" in problem.message


def test_unknown_variable_with_spaces_is_not_fetched_from_the_config_manager():
    (problem,) = check("{{ .OSS_INFO }}", ports=())
    assert "asks its config manager only for names written as {{.OSS_INFO}}" in problem.message


def test_unknown_variable_warns_once():
    problems = check("{{.NOPE}}\n{{.NOPE}}", ports=())
    assert [(p.line, p.error) for p in problems] == [(1, False)]


@pytest.mark.parametrize("env", [("MY_VAR",), ("my_var",)], ids=["upper", "lower-case env name"])
def test_env_var_of_the_containers_is_known(env):
    assert check("{{.MY_VAR}}", ports=(), env=env) == []


def test_lower_case_reference_to_an_env_var_warns_to_upper_case_it():
    (problem,) = check("{{.my_var}}", ports=(), env=("my_var",))
    assert not problem.error
    assert "write MY_VAR" in problem.message


def test_lower_case_built_in_warns():
    (problem,) = check("{{.task_id}}", ports=())
    assert "write TASK_ID" in problem.message


@pytest.mark.parametrize("name", sorted(BUILTIN_VARIABLES))
def test_built_in_variable_is_known(name):
    assert check("{{{." + name + "}}} {{." + name + "}}", ports=()) == []


def test_index_variable_inside_a_selector_is_checked():
    (problem,) = check("{{{.TASK_CLUSTER_DEFINE.parties[.NOPE.idx].name}}}", ports=())
    assert "unknown variable NOPE" in problem.message


def test_dollar_reaches_the_variables_inside_with():
    (problem,) = check("{{with .TASK_ID}}{{$.NOPE}}{{end}}", ports=())
    assert "unknown variable NOPE" in problem.message


def test_fields_inside_a_define_are_not_variables():
    assert check('{{define "t"}}{{.anything}}{{end}}', ports=()) == []


# ---------------------------------------------------------------------------------------------
# Positions: columns count characters.

POSITIONS = {
    "tab is one column": ("\t{{foo}}", 1, 2),
    "CJK characters are one column each": ("日本 {{foo}}", 1, 4),
    "emoji is one column": ("😀{{foo}}", 1, 2),
    "after a line of tabs and umlauts": ("ü\n\t\t{{foo}}", 2, 3),
    "after a rewritten triple-brace reference": ("{{{.TASK_ID}}} {{foo}}", 1, 16),
    "after a rewritten reference on the next line": (
        "{{{.TASK_ID}}}\n{{{.KUSCIA_DOMAIN_ID}}} {{foo}}",
        2,
        25,
    ),
    "trim marker does not move the action": ("x   {{- foo}}", 1, 5),
    "CRLF: the CR is the end of the line": ("a\r\n{{foo}}", 2, 1),
}


@pytest.mark.parametrize(("text", "line", "column"), POSITIONS.values(), ids=POSITIONS.keys())
def test_position_counts_characters(text, line, column):
    (problem,) = check(text, ports=())
    assert (problem.line, problem.column) == (line, column)


def test_problems_come_in_text_order():
    problems = check(
        "{{.B_UNKNOWN}} {{{.ALLOCATED_PORTS.ports[name=x].port}}} {{.A_UNKNOWN}}", ports=("fed",)
    )
    assert [p.column for p in problems] == sorted(p.column for p in problems)
    assert [p.error for p in problems] == [False, True, False]


def test_deep_nesting_is_a_warning_not_a_crash():
    # Go accepts 3,000 levels (its bound is 10,000), as the compiled checker does; pure
    # Python meets its recursion limit first and says so in a warning instead.
    text = "{{print " + "(" * 3000 + "1" + ")" * 3000 + "}}"
    assert not any(problem.error for problem in check(text, ports=()))


# ---------------------------------------------------------------------------------------------
# Properties.

FRAGMENTS = st.sampled_from(
    [
        "{{",
        "}}",
        "{{{",
        "}}}",
        "{{- ",
        " -}}",
        "/*",
        "*/",
        ".A",
        ".TASK_ID",
        "$",
        "$x",
        ":=",
        "|",
        "(",
        ")",
        "if ",
        "else",
        "end",
        "range ",
        "with ",
        "define ",
        "template ",
        "block ",
        "break",
        '"s"',
        "`r`",
        "'c'",
        "1",
        "0x1F",
        "nil",
        "printf ",
        "kuscia ",
        "[name=fed]",
        ".ALLOCATED_PORTS.ports",
        "\n",
        "\t",
        " ",
        "日",
    ]
)


@given(st.text().filter(lambda s: "{{" not in s))
def test_text_without_actions_has_no_problems(text):
    assert check(text, ports=()) == []


@settings(max_examples=300)
@given(
    st.one_of(st.text(), st.lists(FRAGMENTS, max_size=20).map("".join)),
    st.lists(st.text(max_size=8), max_size=3),
)
def test_random_text_only_returns_problems(text, ports):
    problems = check(text, ports=ports)
    lines = text.count("\n") + 1
    for p in problems:
        assert isinstance(p, Problem)
        assert 1 <= p.line <= lines
        assert p.column >= 1
        assert p.message
