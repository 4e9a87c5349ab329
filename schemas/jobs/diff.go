package jobs

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/msx-project/msx/schemas/schedule"
)

// Diff returns one human-readable line per difference between two versions of a job, in a
// stable order: header fields ("enabled: true -> false", "description changed"), steps by
// position ("steps[1].command changed", "steps[2] \"Cleanup\" added"), schedules by name
// ("schedule \"nightly\" added", "schedule \"nightly\".freq_interval: 1 -> 2") and targets
// ("targets.servers: SQL02 added"). job_id and version_number are ignored. Diff compares the
// jobs as given: normalise both first so that an unset field and its default compare equal.
// It returns nil when the definitions are the same.
func Diff(old, new Job) []string {
	var out []string
	diffFields(&out, "", reflect.ValueOf(old), reflect.ValueOf(new), "job_id", "version_number", "steps", "schedules", "targets")

	for i := range max(len(old.Steps), len(new.Steps)) {
		path := fmt.Sprintf("steps[%d]", i)
		switch {
		case i >= len(old.Steps):
			out = append(out, fmt.Sprintf("%s %q added", path, new.Steps[i].StepName))
		case i >= len(new.Steps):
			out = append(out, fmt.Sprintf("%s %q removed", path, old.Steps[i].StepName))
		default:
			diffFields(&out, path+".", reflect.ValueOf(old.Steps[i]), reflect.ValueOf(new.Steps[i]))
		}
	}

	oldScheds, newScheds := indexSchedules(old.Schedules), indexSchedules(new.Schedules)
	for _, s := range old.Schedules {
		if _, kept := newScheds[key(s.Name)]; !kept {
			out = append(out, fmt.Sprintf("schedule %q removed", s.Name))
		}
	}
	for _, s := range new.Schedules {
		o, existed := oldScheds[key(s.Name)]
		if !existed {
			out = append(out, fmt.Sprintf("schedule %q added", s.Name))
			continue
		}
		diffFields(&out, fmt.Sprintf("schedule %q.", s.Name), reflect.ValueOf(o), reflect.ValueOf(s))
	}

	diffSet(&out, "targets.servers", old.Targets.Servers, new.Targets.Servers)
	diffSet(&out, "targets.groups", old.Targets.Groups, new.Targets.Groups)
	return out
}

func key(name string) string { return strings.ToUpper(strings.TrimSpace(name)) }

// indexSchedules maps schedule names (ignoring case) to the first schedule of that name.
func indexSchedules(s []schedule.Schedule) map[string]schedule.Schedule {
	m := make(map[string]schedule.Schedule, len(s))
	for _, x := range s {
		if _, dup := m[key(x.Name)]; !dup {
			m[key(x.Name)] = x
		}
	}
	return m
}

// diffFields appends a line for each field of the structs a and b (of the same type) that
// differs, naming it by its json tag after prefix, except the fields named in skip.
func diffFields(out *[]string, prefix string, a, b reflect.Value, skip ...string) {
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			diffFields(out, prefix, a.Field(i), b.Field(i), skip...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name == "-" || slices.Contains(skip, name) {
			continue
		}
		av, bv := a.Field(i), b.Field(i)
		if reflect.DeepEqual(av.Interface(), bv.Interface()) {
			continue
		}
		as, along := render(av)
		bs, blong := render(bv)
		if along || blong {
			*out = append(*out, prefix+name+" changed")
		} else {
			*out = append(*out, fmt.Sprintf("%s%s: %s -> %s", prefix, name, as, bs))
		}
	}
}

// render formats a field value for a Diff line; long reports a value too long or multi-line to
// show, such as a command.
func render(v reflect.Value) (s string, long bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(default)", false
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case Duration:
		return time.Duration(x).String(), false
	case string:
		return strconv.Quote(x), len(x) > 60 || strings.ContainsAny(x, "\r\n")
	}
	return fmt.Sprint(v.Interface()), false
}

// diffSet appends "<path>: X added/removed" lines for names (compared ignoring case and
// surrounding space) in one list and not the other.
func diffSet(out *[]string, path string, old, new []string) {
	keys := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, x := range list {
			m[key(x)] = true
		}
		return m
	}
	report := func(list []string, other map[string]bool, verb string) {
		done := map[string]bool{}
		for _, s := range list {
			if k := key(s); !other[k] && !done[k] {
				done[k] = true
				*out = append(*out, fmt.Sprintf("%s: %s %s", path, strings.TrimSpace(s), verb))
			}
		}
	}
	report(old, keys(new), "removed")
	report(new, keys(old), "added")
}
