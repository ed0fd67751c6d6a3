package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// format is -o: how a command prints what the agent answered.
//
// json is stable: exactly the local API's answer, re-indented, with the
// types and field names of package localapi (fields are only ever added).
// yaml is the same value converted from that JSON, so the two always hold
// the same content (keys sorted, as kubectl's yaml). table and wide are
// for people: their columns may change.
type format string

const (
	formatTable format = "table"
	formatWide  format = "wide"
	formatJSON  format = "json"
	formatYAML  format = "yaml"
)

func (f *format) String() string { return string(*f) }

func (f *format) Set(s string) error {
	switch v := format(s); v {
	case formatTable, formatWide, formatJSON, formatYAML:
		*f = v
		return nil
	}
	return fmt.Errorf("must be %s", oneOf("table", "wide", "json", "yaml"))
}

// show prints v in format f; table prints it for people (wide: with more
// columns).
func show(w io.Writer, f format, v any, table func(w io.Writer, wide bool) error) error {
	switch f {
	case formatJSON:
		return writeJSON(w, v)
	case formatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return table(w, f == formatWide)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeTable prints rows under header (nil: none), aligned. A row may end
// in empty cells (a continuation row); they keep the columns aligned and
// leave no trailing blanks.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// cells fills empty cells with "-", so every row has all its columns for
// awk and the eye.
func cells(row ...string) []string {
	for i := range row {
		row[i] = cell(row[i])
	}
	return row
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func num[T uint32 | uint64 | int](v T) string { return strconv.FormatUint(uint64(v), 10) }

// vni formats a VNI; 0 means none (a unicast route, say) and shows as "-".
func vni(v uint32) string {
	if v == 0 {
		return ""
	}
	return num(v)
}

func uptime(s int64) string {
	if s <= 0 {
		return ""
	}
	return (time.Duration(s) * time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
