package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Precheck checks what skel would otherwise reject with less useful codes:
// the config is one JSON object (a syntax error names the key it is in, and
// the line and column), and the spec's required keys cniVersion, name and
// type are strings. Errors are code 7.
func Precheck(stdin []byte) error {
	if !json.Valid(stdin) {
		return syntaxError(stdin)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &top); err != nil {
		return configError("(top level)", errors.New("must be a JSON object"))
	}
	for _, key := range []string{"cniVersion", "name", "type"} {
		raw, ok := top[key]
		if !ok {
			return configError(key, errors.New("missing"))
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return configError(key, fmt.Errorf("got %s, want a string", raw))
		}
		if s == "" {
			return configError(key, errors.New("empty"))
		}
	}
	return nil
}

// syntaxError describes why stdin is not JSON: where, and in which key.
func syntaxError(stdin []byte) error {
	var v any
	err := json.Unmarshal(stdin, &v)
	if err == nil {
		err = errors.New("not valid JSON")
	}
	offset := int64(len(stdin))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	line, col := lineCol(stdin, offset)
	path := keyAt(stdin)
	if path == "" {
		path = "(top level)"
	}
	return configError(path, fmt.Errorf("invalid JSON at line %d column %d: %w", line, col, err))
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(b []byte, offset int64) (int, int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	before := b[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// keyAt walks the tokens of invalid JSON and returns the path of the key
// (e.g. "ipam.ranges[0]") whose value the syntax error is in.
func keyAt(b []byte) string {
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		n       int // array values seen
	}
	var stack []*frame
	endValue := func() {
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		if f.obj {
			f.wantKey = true
		} else {
			f.n++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 {
				return ""
			}
			var parts []string
			for i, f := range stack {
				switch {
				case f.obj && f.key != "" && !(f.wantKey && i == len(stack)-1):
					if len(parts) > 0 {
						parts = append(parts, ".")
					}
					parts = append(parts, f.key)
				case !f.obj:
					parts = append(parts, "["+strconv.Itoa(f.n)+"]")
				}
			}
			return strings.Join(parts, "")
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{obj: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				endValue()
			}
		case string:
			if top != nil && top.obj && top.wantKey {
				top.key, top.wantKey = t, false
				continue
			}
			endValue()
		default:
			endValue()
		}
	}
}
