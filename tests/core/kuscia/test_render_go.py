"""What Go does that our port once did not: each test is a difference the differential test
(test_render_differential.py) found between render.check and Go 1.26's text/template behind
Kuscia's rewrite, pinned here without Go. Places and messages are Go's (columns: code points).
"""

from __future__ import annotations

import pytest

from webhook.core.kuscia.render import Problem, check


def errors(text: str) -> list[Problem]:
    return [p for p in check(text, ports=("fed",)) if p.error]


def only_error(text: str) -> Problem:
    (problem,) = errors(text)
    return problem


# ---------------------------------------------------------------------------------------------
# Parsing: Go's Unicode tables, Go's quoting, Go's lines.


def test_identifiers_take_the_letters_of_gos_unicode_tables():
    # U+31350 (CJK extension H) and U+1E4F0 (a Nag Mundari digit) came with Unicode 15.0, which
    # Go 1.26 has and Python 3.11 has not.
    assert errors("{{$\U00031350 := 1}}{{$\U00031350}}{{.A\U0001e4f0}}") == []


def test_messages_print_the_characters_go_prints():
    assert only_error("{{f\U00031350}}").message == 'function "f\U00031350" not defined'


def test_a_long_token_in_a_message_is_cut_after_ten_bytes_as_go_does():
    # Go shortens a token longer than ten bytes (not characters) to ten characters and "...".
    assert (
        'unexpected "\\"日本語字\\""... in define clause'
        in only_error('{{define "t" "日本語字"}}{{end}}').message
    )


def test_parse_error_is_on_the_line_of_the_token_go_stopped_at():
    problem = only_error("a\n{{if\n  .TASK_ID\n  foo}}x{{end}}")
    assert (problem.line, problem.column) == (4, 3)


def test_missing_end_is_reported_on_the_last_line_naming_where_the_block_opens():
    problem = only_error("{{if .TASK_ID}}\nx\ny")
    assert (problem.line, problem.column) == (3, 2)
    assert "{{if}} has no matching {{end}} (unexpected EOF): it opens at line 1" in problem.message


def test_lexer_error_in_a_multi_line_action_says_where_the_action_started():
    problem = only_error('{{print\n"abc}}')
    assert (problem.line, problem.column) == (2, 1)
    assert "unterminated quoted string in action started at line 1" in problem.message


def test_a_second_definition_keeps_gos_words():
    message = only_error('{{define "t"}}a{{end}}{{define "t"}}b{{end}}').message
    assert 'template: multiple definition of template "t"' in message


# ---------------------------------------------------------------------------------------------
# Executing: what fails whenever it runs over Kuscia's map of strings.

FAILS = {
    "arguments to a field of the data": (
        "{{.TASK_ID .SERVING_ID}}",
        1,
        3,
        "TASK_ID is not a method but has arguments",
    ),
    "piping into a field": ('{{"x" | .TASK_ID}}', 1, 9, "TASK_ID is not a method but has arguments"),
    "arguments to a variable": ("{{$x := 1}}{{$x 2}}", 1, 14, "can't give argument to non-function $x"),
    "arguments to a number": ("{{1 2}}", 1, 3, "can't give argument to non-function 1"),
    "nil as a command": ("{{nil}}", 1, 3, "nil is not a command"),
    "nil as a condition": ("{{if nil}}{{end}}", 1, 6, "nil is not a command"),
    "range over a bool": ("{{range true}}{{end}}", 1, 9, "range can't iterate over"),
    "range over a float": ("{{range 1.5}}{{end}}", 1, 9, "range can't iterate over"),
    "two range variables over a number": (
        "{{range $k, $v := 3}}{{end}}",
        1,
        19,
        "to iterate over more than one variable",
    ),
    "field of a variable holding a string": (
        "{{$x := .TASK_ID}}{{$x.y}}",
        1,
        23,
        "can't evaluate field y in type string",
    ),
    "field of a ranged variable": (
        "{{range $k, $v := .}}{{$v.x}}{{end}}",
        1,
        26,
        "can't evaluate field x in type string",
    ),
    "field of a with variable": ("{{with $x := .TASK_ID}}{{$x.y}}{{end}}", 1, 28, "can't evaluate field y"),
    # Go is still at the last node it evaluated, the "a".
    "field of a number": ('{{(len "a").x}}', 1, 8, "can't evaluate field x in type int"),
    "call (Kuscia's data holds no functions)": (
        "{{call .TASK_ID}}",
        1,
        3,
        "non-function .TASK_ID of type string",
    ),
    "number beyond int": ("{{print 18446744073709551615}}", 1, 9, "18446744073709551615 overflows int"),
    "len of a number": ("{{len 1}}", 1, 3, "error calling len: len of type int"),
    "len of nil": (
        "{{len nil}}",
        1,
        3,
        "error calling len: reflect: call of reflect.Value.Type on zero Value",
    ),
    "index of a number": ("{{index 1 0}}", 1, 3, "can't index item of type int"),
    "index past the end": ('{{index "abc" 5}}', 1, 3, "index out of range: 5"),
    "index at the end": ('{{index "abc" 3}}', 1, 3, "reflect: string index out of range"),
    "index of the data by a number": ("{{index . 1}}", 1, 3, "value has type int; should be string"),
    "slice of the data": ("{{slice . 1}}", 1, 3, "can't slice item of type map[string]string"),
    "eq of a string and a number": (
        "{{eq .TASK_ID 1}}",
        1,
        3,
        "incompatible types for comparison: string and int",
    ),
    "eq of the data with itself": ("{{eq . .}}", 1, 3, "non-comparable type"),
    "lt of bools": ("{{lt true false}}", 1, 3, "error calling lt: invalid type for comparison"),
    "eq past an unequal pair": (
        '{{eq "a" "b" 1}}',
        1,
        3,
        "incompatible types for comparison: string and int",
    ),
    "printf of a number": ("{{printf 1}}", 1, 10, "expected string; found 1"),
    "kuscia of a number's result": (
        '{{kuscia (len "a")}}',
        1,
        15,
        "wrong type for value; expected string; got int",
    ),
    "kuscia of nil": ("{{kuscia nil}}", 1, 10, "cannot assign nil to string"),
    "kuscia of no data": (
        '{{define "t"}}{{kuscia .}}{{end}}{{template "t"}}',
        1,
        24,
        "invalid value; expected string",
    ),
    "a called template's dot": (
        '{{define "t"}}{{.x}}{{end}}{{template "t" "s"}}',
        1,
        17,
        "can't evaluate field x in type string",
    ),
    "a template calling itself": (
        '{{define "t"}}{{template "t"}}{{end}}{{template "t"}}',
        1,
        26,
        "exceeded maximum template depth",
    ),
    "two templates calling each other": (
        '{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}{{template "a" .}}{{end}}{{template "a" .}}',
        1,
        65,
        "exceeded maximum template depth",
    ),
    "eq of what or may pass on, each kind refused": ("{{or .NOPE 5 | eq false}}", 1, 16, "bool and int"),
    # At 100,000 calls deep Go stops at the first {{template}} of the template it is in.
    "the first call in a template calling itself": (
        '{{block "b" 1}}{{template "t" 1}}{{block "b" 2}}{{end}}{{end}}{{define "t"}}{{end}}',
        1,
        27,
        "exceeded maximum template depth",
    ),
    "the call of the template 100,000 deep in a cycle of two": (
        '{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}x{{template "a" .}}{{end}}{{template "b" .}}',
        1,
        26,
        "exceeded maximum template depth",
    ),
    "slice past the end of a printed string": (
        '{{block "b" print "x"}}{{$x := slice . 2}}{{end}}',
        1,
        32,
        "index out of range: 2",
    ),
    # Go's parser takes "$x = ..." for a variable never declared; its execution does not.
    "assigning a variable never declared": ("{{$x = 1}}", 1, 8, "undefined variable: $x"),
    "assigning a variable out of its scope": (
        "{{if 1}}{{$y := 2}}{{end}}{{$y = 3}}",
        1,
        34,
        "undefined variable: $y",
    ),
    "a slice bound piped in": ("{{0 | slice $.TASK_ID 2}}", 1, 7, "invalid slice index: 2 > 0"),
    "an index held in a variable": ('{{$i := 5}}{{index "abc" $i}}', 1, 14, "index out of range: 5"),
    "the else of a range over nothing": ("{{range 0}}{{.x}}{{else}}{{len}}{{end}}", 1, 28, "want 1 got 0"),
    # Go reports this at the node it evaluated last: the argument or stopped at.
    "a piped value into a pipeline": (
        "{{or 1 2 | (print 3)}}",
        1,
        6,
        "can't give argument to non-function print 3",
    ),
    "a piped value, or stopping at a variable": (
        "{{or (print .TASK_ID) 1 | (print 3)}}",
        1,
        13,
        "can't give argument to non-function print 3",
    ),
    "and passing on the piped value past a known number": (
        '{{define "t"}}{{(1-2.5i | and . -1).x}}{{end}}{{template "t" 1}}',
        1,
        33,
        "can't evaluate field x in type complex128",
    ),
    "or past a false literal": ("{{or 0 (len 1 2)}}", 1, 9, "wrong number of args for len: want 1 got 2"),
    "the value or passes on": ("{{(or 1.5 .).x}}", 1, 7, "can't evaluate field x in type float64"),
}


@pytest.mark.parametrize(("text", "line", "column", "message"), FAILS.values(), ids=FAILS.keys())
def test_action_that_go_cannot_execute_is_an_error_where_go_says(text, line, column, message):
    problem = only_error(text)
    assert (problem.line, problem.column) == (line, column)
    assert message in problem.message


RUNS = {
    "range over a number": "{{range 3}}{{.}}{{end}}",
    # What a literal condition rules out never runs: "{{if false}}" turns a block off.
    "a block turned off with if false": "{{if false}}{{len 1 2}}{{end}}",
    "the body of a with of zero": "{{with $n := 0}}{{$n.x}}{{end}}",
    "the else of a with of a string": '{{with "s"}}ok{{else}}{{len}}{{end}}',
    "and stopping at a false literal": "{{and 0 (len 1 2)}}",
    "eq stopping at an equal pair": '{{eq "a" "a" 1}}',
    "a template calling itself under a condition": (
        '{{define "t"}}{{if .}}{{template "t" (slice . 1)}}{{end}}{{end}}{{template "t" "ab"}}'
    ),
}


@pytest.mark.parametrize("text", RUNS.values(), ids=RUNS.keys())
def test_action_that_go_executes_is_not_an_error(text):
    assert errors(text) == []
