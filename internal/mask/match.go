package mask

// matcher is an Aho-Corasick automaton over every pattern (the variants of every secret).
type matcher struct {
	nodes []acNode
}

type acNode struct {
	next  map[byte]int32
	fail  int32
	depth int32
	// out is the length of the longest pattern that ends in this state (through fail links
	// too); 0 when none does.
	out int32
}

var emptyMatcher = buildMatcher(nil)

func (m *matcher) empty() bool { return len(m.nodes) == 1 }

func buildMatcher(patterns []string) *matcher {
	m := &matcher{nodes: []acNode{{}}}
	for _, p := range patterns {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			n := &m.nodes[s]
			nx, ok := n.next[p[i]]
			if !ok {
				if n.next == nil {
					n.next = map[byte]int32{}
				}
				nx = int32(len(m.nodes))
				n.next[p[i]] = nx
				m.nodes = append(m.nodes, acNode{depth: int32(i + 1)})
			}
			s = nx
		}
		if int32(len(p)) > m.nodes[s].out {
			m.nodes[s].out = int32(len(p))
		}
	}
	// Breadth-first: fail links and inherited outputs.
	queue := []int32{}
	for _, c := range m.nodes[0].next {
		queue = append(queue, c)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for b, c := range m.nodes[s].next {
			f := m.nodes[s].fail
			for {
				if nx, ok := m.nodes[f].next[b]; ok && nx != c {
					m.nodes[c].fail = nx
					break
				}
				if f == 0 {
					m.nodes[c].fail = 0
					break
				}
				f = m.nodes[f].fail
			}
			if o := m.nodes[m.nodes[c].fail].out; o > m.nodes[c].out {
				m.nodes[c].out = o
			}
			queue = append(queue, c)
		}
	}
	return m
}

func (m *matcher) step(s int32, b byte) int32 {
	for {
		if nx, ok := m.nodes[s].next[b]; ok {
			return nx
		}
		if s == 0 {
			return 0
		}
		s = m.nodes[s].fail
	}
}

// scan marks every byte of b inside an occurrence of a pattern; any reports whether one was.
func (m *matcher) scan(b []byte) (marks []bool, any bool) {
	var s int32
	for i := 0; i < len(b); i++ {
		s = m.step(s, b[i])
		if n := int(m.nodes[s].out); n > 0 {
			if marks == nil {
				marks = make([]bool, len(b))
			}
			any = true
			for j := i + 1 - n; j <= i; j++ {
				marks[j] = true
			}
		}
	}
	return marks, any
}

// collapse appends b to out with each run of marked bytes replaced by one Mask; open says
// the run continues from before b.
func collapse(b []byte, marks []bool, open bool, out []byte) []byte {
	for i, c := range b {
		if marks != nil && marks[i] {
			if !open {
				out = append(out, Mask...)
				open = true
			}
			continue
		}
		open = false
		out = append(out, c)
	}
	return out
}
