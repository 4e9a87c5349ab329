package runner

// MaskResult applies mask (which replaces secrets in a text) to a step's output and error
// message; the error still matches what it matched (errors.Is, errors.As). The Runner masks
// the values of the job's secret variables (jobs.Job.MaskSecrets) with it before the output
// file, the history and events see them; the target masks a proxy's secrets the same way.
func MaskResult(res Result, mask func(string) string) Result {
	res.Output = mask(res.Output)
	if res.Err != nil {
		if m := mask(res.Err.Error()); m != res.Err.Error() {
			res.Err = &maskedError{msg: m, err: res.Err}
		}
	}
	return res
}

// maskedError is an error whose text had secrets masked; it still matches what err matches.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }
