package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/master/registry"
	"github.com/msx-project/msx/schemas/jobs"
)

//go:embed examples/*.yaml
var examples embed.FS

// loadExamples gives a new fleet (no jobs yet) a group ALL of every target and the example
// jobs, so history fills in within a minute of `msx up`.
func loadExamples(ctx context.Context, m *master.Master, servers []string) error {
	if len(m.Catalog.All()) > 0 {
		return nil
	}
	if _, err := m.Reg.AddGroup(ctx, "ALL"); err != nil && !errors.Is(err, registry.ErrGroupExists) {
		return err
	}
	for _, s := range servers {
		if _, _, err := m.AddMember(ctx, "ALL", s); err != nil && !errors.Is(err, registry.ErrAlreadyMember) {
			return err
		}
	}
	files, _ := fs.Glob(examples, "examples/*.yaml")
	for _, f := range files {
		b, _ := examples.ReadFile(f)
		j, err := jobs.Parse(b)
		if err != nil {
			return fmt.Errorf("example %s: %w", f, err)
		}
		if _, err := m.ApplyJob(ctx, j); err != nil {
			return fmt.Errorf("example %s: %w", f, err)
		}
	}
	return nil
}
