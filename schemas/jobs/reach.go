package jobs

// Unreachable returns the ids of the steps that no run reaches: not the start step, and no
// step's action leads to them (on success or failure: 3 goes to the next step, 4 to the step
// named). The classic case is a step 2 of 3 behind a step 1 left at the default
// on_success_action 1 (quit with success). Unset actions take their defaults; references to
// steps that do not exist are Validate's to report. It returns nil when every step is reached.
func (j Job) Unreachable() []int {
	n := len(j.Steps)
	if n == 0 {
		return nil
	}
	reached := make([]bool, n+1)
	var visit func(id int)
	visit = func(id int) {
		if id < 1 || id > n || reached[id] {
			return
		}
		reached[id] = true
		s := j.Steps[id-1]
		for _, a := range []struct{ action, target, def int }{
			{s.OnSuccessAction, s.OnSuccessStepID, ActionQuitSuccess}, {s.OnFailAction, s.OnFailStepID, ActionQuitFailure},
		} {
			switch cmp0(a.action, a.def) {
			case ActionNextStep:
				visit(id + 1)
			case ActionGoToStep:
				visit(a.target)
			}
		}
	}
	visit(cmp0(j.StartStepID, 1))
	var out []int
	for id := 1; id <= n; id++ {
		if !reached[id] {
			out = append(out, id)
		}
	}
	return out
}
