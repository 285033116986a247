// Package dx implements the server side of the DevExtreme data-source protocol that ImmyBot's
// "/dx" endpoints speak: a filter expression (["field","op",value], groups joined by "and" or
// "or", ["!", filter], nesting), sort, skip, take and requireTotalCount, answered as
// {data, totalCount}. Filters are accepted as JSON or in the single-quoted JavaScript form that
// scripts write by hand (['primaryUserEmail','=','a@b.example']).
//
// String comparisons ignore case (e-mail addresses and computer names are compared the way
// people type them); numbers compare numerically, booleans and null by equality.
package dx

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Error is a bad query; Param names the query parameter, Path the bad part of the filter
// (e.g. "filter[2][1]") and Message what is wrong.
type Error struct {
	Param   string
	Path    string
	Message string
}

func (e *Error) Error() string {
	where := e.Param
	if e.Path != "" {
		where = e.Path
	}
	return where + ": " + e.Message
}

// Field reads one field of an item: a string, float64, int64, bool or nil.
type Field[T any] func(T) any

// Schema names the fields a query may filter and sort on (names compared ignoring case).
type Schema[T any] map[string]Field[T]

func (s Schema[T]) lookup(name string) (Field[T], bool) {
	if f, ok := s[name]; ok {
		return f, true
	}
	for k, f := range s {
		if strings.EqualFold(k, name) {
			return f, true
		}
	}
	return nil, false
}

func (s Schema[T]) names() string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// Ops lists the binary operators.
var Ops = []string{"=", "<>", "<", ">", "<=", ">=", "contains", "notcontains", "startswith", "endswith"}

// Node is a parsed filter.
type Node struct {
	Op    string // a binary operator, "and", "or" or "!"
	Field string
	Value any
	Kids  []*Node
}

// Query is a parsed data-source request.
type Query struct {
	Filter            *Node // nil: everything
	Sort              []Sort
	Skip, Take        int // Take 0: no limit
	RequireTotalCount bool
}

// Sort is one sort key.
type Sort struct {
	Selector string `json:"selector"`
	Desc     bool   `json:"desc"`
}

// Result is the answer: one page and, when asked for, the number of matching items (-1 when
// not asked for, as DevExtreme.AspNet.Data answers).
type Result[T any] struct {
	Data       []T `json:"data"`
	TotalCount int `json:"totalCount"`
}

// ParseQuery reads filter, sort, skip, take and requireTotalCount from v.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	if f := v.Get("filter"); strings.TrimSpace(f) != "" {
		n, err := ParseFilter(f)
		if err != nil {
			return Query{}, err
		}
		q.Filter = n
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"skip", &q.Skip}, {"take", &q.Take}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return Query{}, &Error{Param: p.name, Message: "must be a non-negative integer, not " + strconv.Quote(s)}
			}
			*p.dst = n
		}
	}
	if s := v.Get("requireTotalCount"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Query{}, &Error{Param: "requireTotalCount", Message: "must be true or false"}
		}
		q.RequireTotalCount = b
	}
	if s := strings.TrimSpace(v.Get("sort")); s != "" {
		st, err := parseSort(s)
		if err != nil {
			return Query{}, err
		}
		q.Sort = st
	}
	return q, nil
}

// parseSort accepts [{"selector":"name","desc":true}, …], a single such object, or a bare
// field name.
func parseSort(s string) ([]Sort, error) {
	if s[0] != '[' && s[0] != '{' {
		return []Sort{{Selector: s}}, nil
	}
	v, err := parseValue(s, "sort")
	if err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []Sort
	for i, it := range items {
		path := fmt.Sprintf("sort[%d]", i)
		switch x := it.(type) {
		case string:
			out = append(out, Sort{Selector: x})
		case map[string]any:
			sel, _ := x["selector"].(string)
			if sel == "" {
				return nil, &Error{Param: "sort", Path: path, Message: "needs a selector"}
			}
			desc, _ := x["desc"].(bool)
			out = append(out, Sort{Selector: sel, Desc: desc})
		default:
			return nil, &Error{Param: "sort", Path: path, Message: "must be a field name or {selector, desc}"}
		}
	}
	return out, nil
}

// ParseFilter parses a filter expression.
func ParseFilter(s string) (*Node, error) {
	v, err := parseValue(s, "filter")
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, &Error{Param: "filter", Path: "filter", Message: "must be an array"}
	}
	return build(arr, "filter", 0)
}

const maxDepth = 32

func isOp(s string) bool {
	for _, o := range Ops {
		if strings.EqualFold(o, s) {
			return true
		}
	}
	return false
}

// build turns one parsed array into a node.
func build(arr []any, path string, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, &Error{Param: "filter", Path: path, Message: fmt.Sprintf("nests deeper than %d", maxDepth)}
	}
	bad := func(p, msg string) error { return &Error{Param: "filter", Path: p, Message: msg} }
	if len(arr) == 0 {
		return nil, bad(path, "is empty")
	}
	// ["!", filter]
	if s, ok := arr[0].(string); ok && s == "!" {
		if len(arr) != 2 {
			return nil, bad(path, `"!" takes exactly one filter`)
		}
		inner, ok := arr[1].([]any)
		if !ok {
			return nil, bad(path+"[1]", `"!" must be followed by a filter array`)
		}
		k, err := build(inner, path+"[1]", depth+1)
		if err != nil {
			return nil, err
		}
		return &Node{Op: "!", Kids: []*Node{k}}, nil
	}
	// ["field", "op", value] or ["field", value]
	if field, ok := arr[0].(string); ok {
		switch len(arr) {
		case 2:
			if _, isArr := arr[1].([]any); isArr {
				return nil, bad(path+"[1]", "must be a value, not an array")
			}
			return &Node{Op: "=", Field: field, Value: arr[1]}, nil
		case 3:
			op, ok := arr[1].(string)
			if !ok || !isOp(op) {
				return nil, bad(path+"[1]", fmt.Sprintf("unknown operator %v; use one of %s", show(arr[1]), strings.Join(Ops, ", ")))
			}
			if _, isArr := arr[2].([]any); isArr {
				return nil, bad(path+"[2]", "must be a value, not an array")
			}
			if _, isObj := arr[2].(map[string]any); isObj {
				return nil, bad(path+"[2]", "must be a value, not an object")
			}
			return &Node{Op: strings.ToLower(op), Field: field, Value: arr[2]}, nil
		default:
			return nil, bad(path, fmt.Sprintf("a condition is [field, operator, value]; this has %d elements", len(arr)))
		}
	}
	// [filter, "and"|"or", filter, …]; filters side by side mean "and".
	group := &Node{}
	expectFilter := true
	for i, el := range arr {
		p := fmt.Sprintf("%s[%d]", path, i)
		if s, ok := el.(string); ok {
			j := strings.ToLower(s)
			if expectFilter || (j != "and" && j != "or") {
				return nil, bad(p, fmt.Sprintf("unexpected %q; filters are joined by \"and\" or \"or\"", s))
			}
			if group.Op != "" && group.Op != j {
				return nil, bad(p, "mixes \"and\" and \"or\" in one group; nest one of them")
			}
			group.Op = j
			expectFilter = true
			continue
		}
		inner, ok := el.([]any)
		if !ok {
			return nil, bad(p, fmt.Sprintf("must be a filter array or \"and\"/\"or\", not %v", show(el)))
		}
		k, err := build(inner, p, depth+1)
		if err != nil {
			return nil, err
		}
		group.Kids = append(group.Kids, k)
		expectFilter = false
	}
	if expectFilter {
		return nil, bad(path, "ends with \"and\"/\"or\"")
	}
	if group.Op == "" {
		group.Op = "and"
	}
	if len(group.Kids) == 1 {
		return group.Kids[0], nil
	}
	return group, nil
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// ---- evaluation -------------------------------------------------------------------------------

// pred is a compiled filter.
type pred[T any] func(T) bool

// compile checks fields against schema and returns the predicate.
func compile[T any](n *Node, s Schema[T], path string) (pred[T], error) {
	switch n.Op {
	case "and", "or":
		var ps []pred[T]
		for i, k := range n.Kids {
			p, err := compile(k, s, fmt.Sprintf("%s[%d]", path, 2*i))
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
		if n.Op == "and" {
			return func(x T) bool {
				for _, p := range ps {
					if !p(x) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(x T) bool {
			for _, p := range ps {
				if p(x) {
					return true
				}
			}
			return false
		}, nil
	case "!":
		p, err := compile(n.Kids[0], s, path+"[1]")
		if err != nil {
			return nil, err
		}
		return func(x T) bool { return !p(x) }, nil
	}
	get, ok := s.lookup(n.Field)
	if !ok {
		return nil, &Error{Param: "filter", Path: path + "[0]", Message: fmt.Sprintf("unknown field %q; fields: %s", n.Field, s.names())}
	}
	op, want := n.Op, n.Value
	wantS := ""
	if str, ok := want.(string); ok {
		wantS = strings.ToLower(str)
	}
	switch op {
	case "contains", "notcontains", "startswith", "endswith":
		if _, ok := want.(string); !ok {
			return nil, &Error{Param: "filter", Path: path + "[2]", Message: op + " needs a string"}
		}
		return func(x T) bool {
			got := strings.ToLower(toString(get(x)))
			switch op {
			case "contains":
				return strings.Contains(got, wantS)
			case "notcontains":
				return !strings.Contains(got, wantS)
			case "startswith":
				return strings.HasPrefix(got, wantS)
			}
			return strings.HasSuffix(got, wantS)
		}, nil
	}
	return func(x T) bool {
		c, ok := compare(get(x), want)
		switch op {
		case "=":
			return ok && c == 0
		case "<>":
			return !ok || c != 0
		}
		if !ok {
			return false
		}
		switch op {
		case "<":
			return c < 0
		case ">":
			return c > 0
		case "<=":
			return c <= 0
		}
		return c >= 0
	}, nil
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}

// compare orders a field value against a filter value; ok is false when they cannot be
// compared (then only "<>" holds).
func compare(got, want any) (int, bool) {
	if got == nil || want == nil {
		if got == nil && want == nil {
			return 0, true
		}
		return 0, false
	}
	switch g := got.(type) {
	case bool:
		w, ok := want.(bool)
		if !ok {
			if s, isS := want.(string); isS {
				b, err := strconv.ParseBool(s)
				w, ok = b, err == nil
			}
		}
		if !ok {
			return 0, false
		}
		switch {
		case g == w:
			return 0, true
		case !g:
			return -1, true
		}
		return 1, true
	case string:
		return strings.Compare(strings.ToLower(g), strings.ToLower(toString(want))), true
	}
	a, ok1 := toNumber(got)
	b, ok2 := toNumber(want)
	if !ok1 || !ok2 {
		return 0, false
	}
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

// Apply filters, sorts and pages items by q; fields come from s.
func Apply[T any](items []T, q Query, s Schema[T]) (Result[T], error) {
	out := items
	if q.Filter != nil {
		p, err := compile(q.Filter, s, "filter")
		if err != nil {
			return Result[T]{}, err
		}
		out = make([]T, 0, len(items)/4)
		for _, it := range items {
			if p(it) {
				out = append(out, it)
			}
		}
	} else {
		out = append([]T(nil), items...)
	}
	if len(q.Sort) > 0 {
		gets := make([]Field[T], len(q.Sort))
		for i, st := range q.Sort {
			g, ok := s.lookup(st.Selector)
			if !ok {
				return Result[T]{}, &Error{Param: "sort", Path: fmt.Sprintf("sort[%d]", i), Message: fmt.Sprintf("unknown field %q; fields: %s", st.Selector, s.names())}
			}
			gets[i] = g
		}
		sort.SliceStable(out, func(i, j int) bool {
			for k, g := range gets {
				c, ok := compare(g(out[i]), g(out[j]))
				if !ok || c == 0 {
					continue
				}
				if q.Sort[k].Desc {
					return c > 0
				}
				return c < 0
			}
			return false
		})
	}
	total := len(out)
	if q.Skip > 0 {
		out = out[min(q.Skip, len(out)):]
	}
	if q.Take > 0 && q.Take < len(out) {
		out = out[:q.Take]
	}
	res := Result[T]{Data: out, TotalCount: -1}
	if res.Data == nil {
		res.Data = []T{}
	}
	if q.RequireTotalCount {
		res.TotalCount = total
	}
	return res, nil
}
