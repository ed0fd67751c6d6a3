package config

import (
	"path/filepath"
	"testing"
)

// The shipped examples must stay valid as the schema moves.
func TestDeployExamplesValid(t *testing.T) {
	files, err := filepath.Glob("../../deploy/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example configs under deploy/config")
	}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
