// Command gotemplate answers, with the real Go, what Kuscia's config renderer does with a
// template: our own Go version of Kuscia's {{{.X}}} rewrite and of its kuscia function, then
// text/template's Parse and Execute with Kuscia's options. The differential test
// (tests/core/kuscia/test_render_differential.py) holds our Python port to its answers.
//
// Usage:
//
//	gotemplate          JSON lines: one request on stdin, one answer on stdout, until EOF
//	gotemplate -tables  Go's Unicode tables as the lexer reads them (JSON)
//	gotemplate -version the Go release it was built with
//
// A request is {"text": "...", "data": {"NAME": "value", ...}}; "data" may be left out to reuse
// the previous one. An answer is {"parse": null | {"line", "message"}, "exec": null |
// {"line", "column", "message", "context"}, "misses": [...], "inconclusive": ""}: where Go
// stopped (lines as Go counts them; exec columns in code points of the text as written, 1-based,
// mapped back through the rewrite), and the kuscia queries that found nothing.
//
// Standard library only; built by hack/gotemplate-bin.sh.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// templateName is the name Kuscia gives every config template (template.New).
const templateName = "config-template"

// outputLimit bounds what one Execute may write: past it the answer is inconclusive, so that a
// generated template cannot fill the memory.
const outputLimit = 1 << 20

// reference is what Kuscia's renderer looks for: {{.X}}, {{{.X}}} and the lopsided forms.
var reference = regexp.MustCompile(`\{\{?\{\.([^{}]+)\}\}?\}`)

// brackets are the [...] of a query, whose dots Kuscia turns into '#'.
var brackets = regexp.MustCompile(`\[(.*?)\]`)

// selector is one path segment with a [...] at its end.
var selector = regexp.MustCompile(`^(.+)\[(.+)\]$`)

type request struct {
	Text string            `json:"text"`
	Data map[string]string `json:"data"`
}

type parseAnswer struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

type execAnswer struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	Context string `json:"context"`
}

type answer struct {
	Parse        *parseAnswer `json:"parse"`
	Exec         *execAnswer  `json:"exec"`
	Misses       []string     `json:"misses"`
	Inconclusive string       `json:"inconclusive"`
}

// span is one rewritten reference, in code points: where it is in the rewritten text and in the
// original, and where its query starts in each (the query keeps its length).
type span struct {
	newStart, newEnd, origStart, origEnd, queryNew, queryOrig, queryLen int
}

// rewrite is Kuscia's rewrite: {{{.A.b[x.y]}}} becomes {{kuscia "A.b[x#y]"}}; other matches stay.
func rewrite(text string) (string, []span) {
	var out strings.Builder
	var spans []span
	last, newRunes := 0, 0
	for _, m := range reference.FindAllStringSubmatchIndex(text, -1) {
		if !strings.HasPrefix(text[m[0]:], "{{{") {
			continue
		}
		out.WriteString(text[last:m[0]])
		newRunes += utf8.RuneCountInString(text[last:m[0]])
		query := brackets.ReplaceAllStringFunc(text[m[2]:m[3]], func(s string) string {
			return strings.ReplaceAll(s, ".", "#")
		})
		replacement := `{{kuscia "` + query + `"}}`
		origStart := utf8.RuneCountInString(text[:m[0]])
		size := utf8.RuneCountInString(replacement)
		spans = append(spans, span{
			newStart: newRunes, newEnd: newRunes + size,
			origStart: origStart, origEnd: origStart + utf8.RuneCountInString(text[m[0]:m[1]]),
			queryNew: newRunes + len(`{{kuscia "`), queryOrig: utf8.RuneCountInString(text[:m[2]]),
			queryLen: utf8.RuneCountInString(query),
		})
		out.WriteString(replacement)
		newRunes += size
		last = m[1]
	}
	out.WriteString(text[last:])
	return out.String(), spans
}

// original maps a code-point offset of the rewritten text to the original: inside a query to the
// same character, elsewhere inside a replacement to its {{{.
func original(spans []span, pos int) int {
	shift := 0
	for _, s := range spans {
		if pos < s.newStart {
			break
		}
		if pos < s.newEnd {
			if pos >= s.queryNew && pos < s.queryNew+s.queryLen {
				return s.queryOrig + pos - s.queryNew
			}
			return s.origStart
		}
		shift = s.origEnd - s.newEnd
	}
	return pos + shift
}

// structured is the data as kuscia queries it: values that hold a JSON object or array decoded.
func structured(data map[string]string) map[string]any {
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[k] = v
		var decoded any
		if json.Unmarshal([]byte(v), &decoded) == nil {
			switch decoded.(type) {
			case map[string]any, []any:
				out[k] = decoded
			}
		}
	}
	return out
}

// lookup follows a kuscia query ("A.b[0].c", "A[name=x]", "A[#B#c]") from root; nil when it
// finds nothing, or on anything a query cannot walk.
func lookup(root map[string]any, query string) (found any) {
	defer func() {
		if recover() != nil {
			found = nil
		}
	}()
	var value any = root
	for _, field := range strings.Split(query, ".") {
		if value == nil {
			return nil
		}
		if field == "" {
			continue
		}
		if !strings.Contains(field, "[") {
			value = member(value, field)
			continue
		}
		parts := selector.FindStringSubmatch(field)
		if parts == nil {
			return nil
		}
		holder := member(value, parts[1])
		if holder == nil {
			return nil
		}
		switch inner := parts[2]; {
		case strings.Contains(inner, "="):
			kv := strings.SplitN(inner, "=", 2)
			value = filter(holder, kv[0], kv[1])
		case strings.Contains(inner, "#"):
			index := lookup(root, strings.ReplaceAll(inner, "#", "."))
			value = element(holder, fmt.Sprintf("%v", index))
		default:
			value = element(holder, inner)
		}
	}
	return value
}

func member(value any, name string) any {
	m, ok := value.(map[string]any)
	if !ok {
		return nil
	}
	v, ok := m[name]
	if !ok || v == nil || reflect.ValueOf(v).IsZero() {
		return nil
	}
	return v
}

func element(value any, index string) any {
	list, ok := value.([]any)
	if !ok {
		return nil
	}
	i, err := strconv.Atoi(index)
	if err != nil || i >= len(list) || i <= -len(list) {
		return nil
	}
	v := list[(i+len(list))%len(list)]
	if v == nil || reflect.ValueOf(v).IsZero() {
		return nil
	}
	return v
}

func filter(value any, key, match string) any {
	list, ok := value.([]any)
	if !ok {
		return nil
	}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := m[key]; ok && v != nil && !reflect.ValueOf(v).IsZero() && text(v) == match {
			return item
		}
	}
	return nil
}

func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// limited fails writes past outputLimit.
type limited struct{ bytes.Buffer }

var errTooMuch = errors.New("output limit exceeded")

func (w *limited) Write(p []byte) (int, error) {
	if w.Len()+len(p) > outputLimit {
		return 0, errTooMuch
	}
	return w.Buffer.Write(p)
}

var (
	parseLine = regexp.MustCompile(`^template: ` + templateName + `:(\d+): ((?s).*)$`)
	execPlace = regexp.MustCompile(`^template: ` + templateName + `:(\d+):(\d+): executing "[^"]*" at <((?s).*?)>: ((?s).*)$`)
)

func render(req request, data map[string]string) answer {
	ans := answer{Misses: []string{}}
	rewritten, spans := rewrite(req.Text)
	root := structured(data)
	kuscia := func(query string) string {
		v := lookup(root, query)
		if v == nil {
			ans.Misses = append(ans.Misses, query)
			return ""
		}
		return text(v)
	}
	tmpl, err := template.New(templateName).Option("missingkey=zero").
		Funcs(template.FuncMap{"kuscia": kuscia}).Parse(rewritten)
	if err != nil {
		m := parseLine.FindStringSubmatch(err.Error())
		if m == nil {
			ans.Parse = &parseAnswer{Line: 0, Message: err.Error()}
			return ans
		}
		line, _ := strconv.Atoi(m[1])
		ans.Parse = &parseAnswer{Line: line, Message: m[2]}
		return ans
	}
	quoted := make(map[string]string, len(data))
	for k, v := range data {
		quoted[k] = strings.Trim(strconv.Quote(v), `"`)
	}
	var out limited
	err = tmpl.Execute(&out, quoted)
	if errors.Is(err, errTooMuch) {
		ans.Inconclusive = err.Error()
		return ans
	}
	if err != nil {
		m := execPlace.FindStringSubmatch(err.Error())
		if m == nil {
			ans.Exec = &execAnswer{Message: err.Error()}
			return ans
		}
		line, _ := strconv.Atoi(m[1])
		byteCol, _ := strconv.Atoi(m[2])
		// Go's place is a line and a byte column of the rewritten text: to a code-point offset,
		// then back to the text as written.
		start := 0
		for i := 1; i < line; i++ {
			start += strings.IndexByte(rewritten[start:], '\n') + 1
		}
		pos := original(spans, utf8.RuneCountInString(rewritten[:start+byteCol]))
		before := []rune(req.Text)[:pos]
		lineStart := strings.LastIndex(string(before), "\n") + 1
		ans.Exec = &execAnswer{
			Line:    strings.Count(string(before), "\n") + 1,
			Column:  utf8.RuneCountInString(string(before)[lineStart:]) + 1,
			Message: m[4],
			Context: m[3],
		}
	}
	return ans
}

// boundaries lists the code points where in(r) changes, starting false at 0.
func boundaries(in func(rune) bool) []int {
	var out []int
	was := false
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if now := in(r); now != was {
			out = append(out, int(r))
			was = now
		}
	}
	return out
}

func main() {
	tables := flag.Bool("tables", false, "print Go's Unicode tables as the template lexer reads them")
	version := flag.Bool("version", false, "print the Go release")
	flag.Parse()
	switch {
	case *version:
		fmt.Println(runtime.Version())
		return
	case *tables:
		out, _ := json.Marshal(map[string]any{
			"go":      runtime.Version(),
			"unicode": unicode.Version,
			"letter":  boundaries(unicode.IsLetter),
			"digit":   boundaries(unicode.IsDigit),
			"print":   boundaries(strconv.IsPrint),
		})
		fmt.Println(string(out))
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	data := map[string]string{}
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "gotemplate: bad request:", err)
			os.Exit(2)
		}
		if req.Data != nil {
			data = req.Data
		}
		if err := enc.Encode(render(req, data)); err != nil {
			os.Exit(1)
		}
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "gotemplate:", err)
		os.Exit(1)
	}
}
