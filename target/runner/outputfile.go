package runner

import (
	"errors"
	"os"
	"path/filepath"
)

// flagAppendOutput is sp_add_jobstep's flag 2, "append to output file"; without it the file
// is overwritten.
const flagAppendOutput = 2

// outputFile is a step's output file, opened before the step runs.
type outputFile struct {
	f    *os.File
	path string
}

// openOutputFile creates path's parent directories and opens path for appending, or
// truncates it. The error wraps ErrOutputFile.
func openOutputFile(path string, appendOutput bool) (*outputFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, wrapf(ErrOutputFile, "unable to open Step output file %s: %w", path, err)
	}
	mode := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendOutput {
		mode = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, mode, 0o644)
	if err != nil {
		return nil, wrapf(ErrOutputFile, "unable to open Step output file %s: %w", path, err)
	}
	return &outputFile{f: f, path: path}, nil
}

// finish writes the step's output and closes the file. The error wraps ErrOutputFile.
func (o *outputFile) finish(output string) error {
	_, werr := o.f.WriteString(output)
	cerr := o.f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return wrapf(ErrOutputFile, "unable to write Step output file %s: %w", o.path, err)
	}
	return nil
}
