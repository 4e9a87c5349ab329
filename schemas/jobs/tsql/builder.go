package tsql

import (
	"fmt"
	"strings"
)

// Builder turns msdb procedure calls whose arguments are already evaluated into msx jobs,
// operators and alerts, with the same translation as Import: a migration that reads msdb's
// tables (sysjobs, sysjobsteps, sysschedules, ...) states each job as the calls that would
// create it. A Builder is not safe for concurrent use.
type Builder struct{ p *parser }

// Arg is one argument of a procedure call: the parameter's name (with or without @, any case)
// and its value: nil for NULL, a string, an integer (int, int8 to int64, uint8 to uint32) or a
// bool (a bit).
type Arg struct {
	Name  string
	Value any
}

// NewBuilder returns a Builder for the default server of Options.
func NewBuilder() *Builder {
	opt, _ := Options{}.withDefaults()
	return &Builder{p: newParser(opt)}
}

// Call runs one procedure call (sp_add_job, sp_add_jobstep, sp_add_jobschedule, sp_add_schedule,
// sp_attach_schedule, sp_update_job, sp_update_jobstep, sp_add_jobserver,
// sp_apply_job_to_targets, sp_add_category, sp_add_operator, sp_add_alert,
// sp_add_notification). line is what problems about the call report as their line (a row
// number, say). A value of a type Arg does not list is reported and ignored.
func (b *Builder) Call(line int, proc string, args ...Arg) {
	var list []*arg
	for _, a := range args {
		v, err := argValue(a.Value)
		if err != nil {
			b.p.problem(line, "@%s ignored: %v", strings.TrimPrefix(a.Name, "@"), err)
			continue
		}
		list = append(list, &arg{name: strings.ToLower(strings.TrimPrefix(strings.TrimSpace(a.Name), "@")), val: v, line: line})
	}
	full := strings.TrimSpace(proc)
	name := strings.ToLower(full)
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	b.p.runProc(line, full, name, list)
}

// argValue converts a Go value to a T-SQL value.
func argValue(v any) (value, error) {
	switch x := v.(type) {
	case nil:
		return value{kind: valNull}, nil
	case string:
		return str(x), nil
	case bool:
		if x {
			return number(1), nil
		}
		return number(0), nil
	case int:
		return number(int64(x)), nil
	case int8:
		return number(int64(x)), nil
	case int16:
		return number(int64(x)), nil
	case int32:
		return number(int64(x)), nil
	case int64:
		return number(x), nil
	case uint8:
		return number(int64(x)), nil
	case uint16:
		return number(int64(x)), nil
	case uint32:
		return number(int64(x)), nil
	}
	return value{}, fmt.Errorf("a %T is not a T-SQL value Builder takes (nil, string, integer or bool)", v)
}

// Result returns what the calls created, as Import returns it: jobs as the calls give them
// (see Result.Partition), and every problem ordered by line.
func (b *Builder) Result() Result { return b.p.collect() }
