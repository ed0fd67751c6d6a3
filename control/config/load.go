package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the YAML file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data)
}

// Parse parses a YAML config strictly over Default(): keys that are missing
// or null keep their default, unknown keys and values of the wrong type are
// errors. Malformed YAML is reported with its line; every other problem is a
// *FieldError naming the key path, all of them joined with errors.Join. The
// result is not validated: call Validate.
func Parse(data []byte) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("malformed YAML: %w", err)
	}
	// A second document is almost always a paste error, and the agent
	// would silently ignore it.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("malformed YAML: %w", err)
		}
		return nil, fmt.Errorf("malformed YAML: line %d: a second document; the config is one document", extra.Line)
	}

	c := Default()
	var d decoder
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		d.value(doc.Content[0], reflect.ValueOf(c).Elem(), "")
	}
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	for i := range c.BGP.Peers {
		if c.BGP.Peers[i].Port == 0 {
			c.BGP.Peers[i].Port = DefaultPeerPort
		}
	}
	return c, nil
}

// decoder walks the YAML tree alongside the Config struct itself, instead of
// yaml.v3's KnownFields, so that every problem is reported (not only the
// first) and named by its key path rather than a line number.
type decoder struct {
	errs []error
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// value decodes n into v. A null leaves v as it is: the default.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(orRoot(path), "must be a mapping of keys, got %s", describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			d.merge(val, v, path)
			continue
		}
		kpath := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.fail(kpath, "duplicate key (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := field(v, k.Value)
		if !ok {
			d.fail(kpath, "unknown key")
			continue
		}
		d.value(val, f, kpath)
	}
}

// merge applies a YAML merge key (<<: *anchor); the mapping's own keys,
// decoded after it, win.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, m := range n.Content {
			d.merge(m, v, path)
		}
		return
	}
	d.mapping(n, v, path)
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "must be a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.value(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "must be %s, got %s", want(v), describe(n))
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	// yaml.v3 does the conversion and range checks (uint32 overflow, "-1"
	// into a uint); we only replace its message with one naming the key.
	// It would also truncate 1.5 into an integer: refuse that first.
	p := reflect.New(v.Type())
	isInt := v.CanInt() || v.CanUint()
	// A boolean must be true or false: yaml.v3 would also take YAML 1.1's
	// yes/no/on/off, even quoted.
	isBool := v.Kind() == reflect.Bool || v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Bool
	if isInt && n.ShortTag() != "!!int" || isBool && n.ShortTag() != "!!bool" || n.Decode(p.Interface()) != nil {
		d.fail(path, "must be %s, got %q", want(v), n.Value)
		return
	}
	v.Set(p.Elem())
}

var durationType = reflect.TypeFor[time.Duration]()

// duration decodes a Go duration string ("300ms", "1m30s"). yaml.v3 would
// take a bare integer as nanoseconds, which nobody means: a unit is required.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	dur, err := time.ParseDuration(n.Value)
	if n.ShortTag() != "!!str" || err != nil {
		d.fail(path, "must be %s, got %q", want(v), n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// field finds the struct field whose yaml tag is key.
func field(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func want(v reflect.Value) string {
	if v.Type() == durationType {
		return `a duration like "300ms" or "2s"`
	}
	switch v.Kind() {
	case reflect.Pointer: // an optional value: unset and its zero differ
		return want(reflect.New(v.Type().Elem()).Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer 0..%d", uint64(1)<<(v.Type().Bits())-1)
	}
	return "a " + v.Kind().String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// orRoot names the top level in messages about the whole document.
func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}
