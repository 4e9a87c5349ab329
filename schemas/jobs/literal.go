package jobs

import (
	"go.yaml.in/yaml/v4"
)

// jobsShape is a YAML document that is a list of jobs (ParseMany).
var jobsShape = &shape{kind: kindArray, elem: jobShape}

// keepLiterals returns the YAML document y with every plain scalar that lands in a string field
// double-quoted, so that the YAML 1.1 rules of the decoder that follows cannot change what the
// DBA wrote: without it `name: 0001` reads as "1", `012` as "10", `0x1F` as "31", `1.10` as
// "1.1", `yes` as "true", and `.inf` fails. Null (`name:` or `name: ~`), quoted and block
// scalars and explicitly tagged values are left alone, as are the keys and values of other
// fields. A document with nothing to quote comes back unchanged, byte for byte; otherwise it is
// re-encoded, which loses its layout but none of its content, so callers read errors that carry
// line numbers from the original first.
func keepLiterals(y []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return y, nil
	}
	inlineScalarAliases(&doc, map[*yaml.Node]bool{})
	s := jobShape
	if doc.Content[0].Kind == yaml.SequenceNode {
		s = jobsShape
	}
	q := quoter{seen: map[*yaml.Node]bool{}}
	q.walk(doc.Content[0], s)
	if !q.changed {
		return y, nil
	}
	return yaml.Marshal(&doc)
}

// inlineScalarAliases replaces every alias of a scalar with a copy of it, so that quoting the
// scalar where it is a string (`step_name: &n 010`) leaves it a number where it is an integer
// (`retry_attempts: *n`).
func inlineScalarAliases(n *yaml.Node, seen map[*yaml.Node]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode && c.Alias != nil && c.Alias.Kind == yaml.ScalarNode {
			inline := *c.Alias
			inline.Anchor = ""
			n.Content[i] = &inline
			continue
		}
		inlineScalarAliases(c, seen)
	}
}

// quoter walks a YAML node tree alongside the shape of the job model.
type quoter struct {
	// seen holds the collections walked: an anchored one is walked once, however many aliases
	// and merge keys name it.
	seen    map[*yaml.Node]bool
	changed bool
}

func (q *quoter) walk(n *yaml.Node, s *shape) {
	if s == nil || q.seen[n] {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if s.kind == kindString {
			q.quote(n)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			q.walk(n.Alias, s)
		}
	case yaml.SequenceNode:
		q.seen[n] = true
		if s.kind == kindArray {
			for _, c := range n.Content {
				q.walk(c, s.elem)
			}
		}
	case yaml.MappingNode:
		q.seen[n] = true
		if s.kind == kindObject {
			q.object(n, s)
		}
	}
}

// object walks the fields of a mapping; the mappings merged into it (`<<: *defaults`) are walked
// as the same object. Its plain keys are quoted too, so that an unknown key is reported as
// written (`on`, not "true").
func (q *quoter) object(n *yaml.Node, s *shape) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			if v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					q.walk(m, s)
				}
				continue
			}
			q.walk(v, s)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			q.quote(k)
		}
		q.walk(v, s.fields[k.Value])
	}
}

// quote double-quotes a plain scalar that is not null.
func (q *quoter) quote(n *yaml.Node) {
	if n.Style != 0 || n.ShortTag() == "!!null" {
		return
	}
	n.Style = yaml.DoubleQuotedStyle
	n.Tag = "!!str"
	q.changed = true
}
