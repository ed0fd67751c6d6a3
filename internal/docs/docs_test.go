// Package docs_test checks the operator documentation against the code and
// itself: every config key is in the README, every link and anchor resolves,
// and no document names an issue number (readers have no tracker to look
// it up in; a document states the target itself).
package docs_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
)

// root is the module root: the first directory upwards holding go.mod.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ourFiles lists the repository's files with one of exts, relative to
// root, leaving out third_party's upstream files (PATCHES.md is ours).
func ourFiles(t *testing.T, root string, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "bench/results" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(rel, "third_party/") && filepath.Base(rel) != "PATCHES.md" {
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(rel, e) {
				out = append(out, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	fence   = regexp.MustCompile("(?s)```.*?```")
	heading = regexp.MustCompile(`(?m)^#{1,6} (.*)$`)
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	notWord = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// anchors returns the heading anchors of a Markdown text as GitHub makes
// them: lower case, punctuation dropped, spaces to dashes, "-1", "-2", ...
// after repeats.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(md, ""), -1) {
		a := strings.ReplaceAll(notWord.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), ""), " ", "-")
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// TestLinks: every relative link of our Markdown files names a file that
// exists and, with a #fragment, a heading of that file.
func TestLinks(t *testing.T) {
	root := root(t)
	for _, rel := range ourFiles(t, root, ".md") {
		md := read(t, filepath.Join(root, rel))
		for _, m := range link.FindAllStringSubmatch(fence.ReplaceAllString(md, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := filepath.Join(root, rel)
			if file != "" {
				path = filepath.Join(filepath.Dir(path), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", rel, target, err)
				continue
			}
			if frag != "" && strings.HasSuffix(path, ".md") && !anchors(read(t, path))[frag] {
				t.Errorf("%s: link %s: no heading with that anchor in %s", rel, target, path)
			}
		}
	}
}

// TestNoIssueNumbers: no document, deploy file or operator-facing file
// names an issue by number.
func TestNoIssueNumbers(t *testing.T) {
	root := root(t)
	issue := regexp.MustCompile(`(?i)\bissues? ?#?[0-9]+`)
	for _, rel := range ourFiles(t, root, ".md", ".yaml", ".yml", ".service", ".conflist") {
		for i, line := range strings.Split(read(t, filepath.Join(root, rel)), "\n") {
			if m := issue.FindString(line); m != "" {
				t.Errorf("%s:%d names %q: state what it asks for instead", rel, i+1, m)
			}
		}
	}
}

// TestConfigKeysDocumented: every key of the config file is in the README,
// by its full path (`bgp.holdTime`) or, inside a list (`networks[].mtu`),
// at least by its name in code quotes.
func TestConfigKeysDocumented(t *testing.T) {
	readme := read(t, filepath.Join(root(t), "README.md"))
	for _, k := range keys(reflect.TypeOf(config.Config{}), "") {
		path, leaf := k[0], k[1]
		inList := strings.Contains(path, "[]")
		if !strings.Contains(readme, "`"+path+"`") && !(inList && strings.Contains(readme, "`"+leaf+"`")) {
			t.Errorf("config key %s is not documented in README.md (want `%s` in the Configure table)", path, path)
		}
	}
}

// keys returns [path, leaf] for every yaml key under t.
func keys(t reflect.Type, prefix string) [][2]string {
	var out [][2]string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, keys(ft, path)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, [2]string{path + "[]", name})
			out = append(out, keys(ft.Elem(), path+"[]")...)
		default:
			out = append(out, [2]string{path, name})
		}
	}
	return out
}
