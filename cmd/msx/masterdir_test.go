package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMasterData(t *testing.T) {
	root := t.TempDir()
	mk := func(files ...string) string {
		dir, err := os.MkdirTemp(root, "d")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(dir, f)
			if strings.HasSuffix(f, "/") {
				p += "/."
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, "/") {
				continue
			}
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	up := mk("msx.log", "master/master.nk", "master/admin.token", "targets/SQL01/target.db")
	parent := mk("msx-data/master/master.nk", "notes.txt")
	for _, tc := range []struct {
		name     string
		data     string
		want     string // "" when refused
		mentions []string
	}{
		{"new directory", filepath.Join(root, "new"), filepath.Join(root, "new"), nil},
		{"empty directory", mk(), "", nil},
		{"msx up directory", up, up, nil},
		{"master's own directory", filepath.Join(up, "master"), up, nil},
		{"master directory of an external bus", mk("master/admin.token"), "", nil},
		{"left by a failed start", mk("master/"), "", nil},
		{"target directory", filepath.Join(up, "targets", "SQL01"), "", []string{"target.db", "master/"}},
		{"something else", mk("notes.txt"), "", []string{"not empty", "master/", "new empty directory"}},
		{"master files at the top", mk("master.nk"), "", []string{"move them into", "--data"}},
		{"parent of the msx up directory", parent, "", []string{"but " + filepath.Join(parent, "msx-data") + " does: pass --data " + filepath.Join(parent, "msx-data")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := masterData(tc.data)
			want := tc.want
			if want == "" && tc.mentions == nil {
				want = tc.data // accepted as is
			}
			if tc.mentions != nil {
				if !errors.Is(err, errDataDir) {
					t.Fatalf("masterData(%s) = %q, %v; want errDataDir", tc.data, got, err)
				}
				for _, m := range tc.mentions {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %q", err, m)
					}
				}
				return
			}
			if err != nil || got != want {
				t.Fatalf("masterData(%s) = %q, %v; want %q", tc.data, got, err, want)
			}
		})
	}
}
