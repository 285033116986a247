package dx

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

type comp struct {
	ID     int64
	Name   string
	Email  string
	Online bool
	Serial string
}

var schema = Schema[comp]{
	"id":           func(c comp) any { return c.ID },
	"computerName": func(c comp) any { return c.Name },
	"primaryUserEmail": func(c comp) any {
		if c.Email == "" {
			return nil
		}
		return c.Email
	},
	"isOnline": func(c comp) any { return c.Online },
	"serial":   func(c comp) any { return c.Serial },
}

var items = []comp{
	{1, "WS-001", "ann@contoso.example", true, "S1"},
	{2, "WS-002", "bob@contoso.example", false, "S2"},
	{3, "LAPTOP-3", "Ann@Contoso.example", true, "S3"},
	{4, "SRV-4", "", false, "S4"},
}

func ids(r Result[comp]) string {
	var s []string
	for _, c := range r.Data {
		s = append(s, fmt.Sprint(c.ID))
	}
	return strings.Join(s, ",")
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		query, want string
		total       int
	}{
		{"", "1,2,3,4", -1},
		{"filter=['primaryUserEmail','=','ann@contoso.example']", "1,3", -1},
		{`filter=["primaryUserEmail","=","ann@contoso.example"]&requireTotalCount=true`, "1,3", 2},
		{"filter=['primaryUserEmail','=',null]", "4", -1},
		{"filter=['primaryUserEmail','<>',null]", "1,2,3", -1},
		{"filter=['computerName','startswith','ws']", "1,2", -1},
		{"filter=['computerName','endswith','-4']", "4", -1},
		{"filter=['computerName','contains','top']", "3", -1},
		{"filter=['computerName','notcontains','ws']", "3,4", -1},
		{"filter=['id','>',2]", "3,4", -1},
		{"filter=['id','>=','2']", "2,3,4", -1},
		{"filter=['id','<',2]", "1", -1},
		{"filter=['id','<=',2]", "1,2", -1},
		{"filter=['id','<>',2]", "1,3,4", -1},
		{"filter=['isOnline','=',true]", "1,3", -1},
		{"filter=['isOnline',false]", "2,4", -1},
		{"filter=[['isOnline','=',true],'and',['id','>',1]]", "3", -1},
		{"filter=[['id','=',1],'or',['id','=',4],'or',['serial','=','s2']]", "1,2,4", -1},
		{"filter=['!',['isOnline','=',true]]", "2,4", -1},
		{"filter=[['!',[['id','=',1],'or',['id','=',2]]],'and',['computerName','contains','-']]", "3,4", -1},
		{"filter=[['id','>',1],['id','<',4]]", "2,3", -1},
		{"filter=['ID','=',1]", "1", -1},
		{"sort=[{'selector':'computerName','desc':true}]", "2,1,4,3", -1},
		{`sort=[{"selector":"isOnline"},{"selector":"id","desc":true}]`, "4,2,3,1", -1},
		{"sort=computerName", "3,4,1,2", -1},
		{"skip=1&take=2&requireTotalCount=true", "2,3", 4},
		{"skip=9&requireTotalCount=true", "", 4},
	} {
		v, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseQuery(v)
		if err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		r, err := Apply(items, q, schema)
		if err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		if got := ids(r); got != tc.want || r.TotalCount != tc.total {
			t.Errorf("%s: got %s (total %d), want %s (total %d)", tc.query, got, r.TotalCount, tc.want, tc.total)
		}
	}
}

func TestBadQueries(t *testing.T) {
	for _, tc := range []struct{ query, param, path, msg string }{
		{"filter=['id','~',1]", "filter", "filter[1]", "unknown operator"},
		{"filter=['nope','=',1]", "filter", "filter[0]", "unknown field"},
		{"filter=[['id','=',1],'and',['x','=',2]]", "filter", "filter[2][0]", "unknown field"},
		{"filter=[['id','=',1],'and',['id','?',2]]", "filter", "filter[2][1]", "unknown operator"},
		{"filter=[['id','=',1],'and',['id','=',2],'or',['id','=',3]]", "filter", "filter[3]", "mixes"},
		{"filter=[['id','=',1],'and']", "filter", "filter", "ends with"},
		{"filter=['!',['id','=',1],1]", "filter", "filter", `"!"`},
		{"filter=['id','=',1,2]", "filter", "filter", "4 elements"},
		{"filter=[]", "filter", "filter", "empty"},
		{"filter='id'", "filter", "filter", "must be an array"},
		{"filter=['id','=',['x']]", "filter", "filter[2]", "not an array"},
		{"filter=[['id','=',1],'xor',['id','=',2]]", "filter", "filter[1]", "unexpected"},
		{"filter=['computerName','contains',3]", "filter", "filter[2]", "needs a string"},
		{"filter=['id','=','1", "filter", "", "unclosed string"},
		{"filter=['id' '=']", "filter", "", "expected , or ]"},
		{"filter=['id','=',1]]", "filter", "", "after the end"},
		{"filter=" + strings.Repeat("['!',", 40) + "['id','=',1]" + strings.Repeat("]", 40), "filter", "", "deeper"},
		{"skip=-1", "skip", "", "non-negative"},
		{"take=x", "take", "", "non-negative"},
		{"requireTotalCount=maybe", "requireTotalCount", "", "true or false"},
		{"sort=[{'desc':true}]", "sort", "sort[0]", "selector"},
		{"sort=[{'selector':'nope'}]", "sort", "sort[0]", "unknown field"},
	} {
		v, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseQuery(v)
		if err == nil {
			_, err = Apply(items, q, schema)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err %v, want *Error", tc.query, err)
			continue
		}
		if e.Param != tc.param || (tc.path != "" && e.Path != tc.path) || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: got param %q path %q message %q; want %q %q ~%q", tc.query, e.Param, e.Path, e.Message, tc.param, tc.path, tc.msg)
		}
	}
}

// FuzzParseFilter: no input panics, and every refusal is an *Error naming its parameter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"['a','=',1]", `[["a","=",1],"or",["!",["b","contains","x"]]]`, "[[", "['\\u00e9']", "[1e999]", "{'a':[]}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseFilter(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Param != "filter" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if _, err := Apply(items, Query{Filter: n}, schema); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%q: apply: %v", s, err)
			}
		}
	})
}
