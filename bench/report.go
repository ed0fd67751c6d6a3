// Package bench measures vxbgp against a reference built in the same lab
// run: FRR for convergence, the reference bridge + host-local CNI plugins
// for pod setup, and hand-built kernel paths for the data plane. Every
// figure is printed next to its reference as a ratio, because absolute
// times drift on a shared machine.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Row is one line of the result table.
type Row struct {
	What string `json:"what"`
	// "ms", "µs", "ns" (times, lower is better), "Gbit/s" (higher is
	// better), "MB" or "% of a core".
	Unit string `json:"unit"`
	// Ours and Ref are the medians (or throughputs); P99s are set for
	// latency rows (nearest rank: below 100 samples the maximum; the Go
	// micro-benchmarks put their maximum there) and hold the maximum of
	// other rows with several samples; Mins are the smallest sample.
	Ours    float64 `json:"ours"`
	OursP99 float64 `json:"ours_p99,omitempty"`
	OursMin float64 `json:"ours_min,omitempty"`
	Ref     float64 `json:"ref"`
	RefP99  float64 `json:"ref_p99,omitempty"`
	RefMin  float64 `json:"ref_min,omitempty"`
	RefName string  `json:"reference"`
	N       int     `json:"samples,omitempty"`
	// Ratio is Ours/Ref.
	Ratio float64 `json:"ratio"`
	Note  string  `json:"note,omitempty"`
	Err   string  `json:"error,omitempty"`
}

// Report is a whole run.
type Report struct {
	Start    time.Time `json:"start"`
	Duration string    `json:"duration"`
	Quick    bool      `json:"quick"`
	Host     string    `json:"host"`
	Rows     []Row     `json:"rows"`
	Notes    []string  `json:"notes,omitempty"`
}

// latencyRow summarises two samples sets in milliseconds.
func latencyRow(what, ref string, ours, refs []time.Duration) Row {
	r := Row{What: what, Unit: "ms", RefName: ref, N: len(ours)}
	r.Ours, r.OursP99 = medianP99(ours)
	r.Ref, r.RefP99 = medianP99(refs)
	r.OursMin, r.RefMin = minMS(ours), minMS(refs)
	if r.Ref > 0 {
		r.Ratio = r.Ours / r.Ref
	}
	return r
}

func minMS(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	return float64(slices.Min(ds).Microseconds()) / 1000
}

// sampleRow summarises two sets of samples of a figure that is not a
// latency (MB, % of a core): median, minimum and maximum.
func sampleRow(what, ref, unit string, ours, refs []float64) Row {
	r := Row{What: what, Unit: unit, RefName: ref, N: len(ours)}
	if len(ours) > 0 {
		r.Ours, r.OursMin, r.OursP99 = medianF(ours), slices.Min(ours), slices.Max(ours)
	}
	if len(refs) > 0 {
		r.Ref, r.RefMin, r.RefP99 = medianF(refs), slices.Min(refs), slices.Max(refs)
	}
	if r.Ref > 0 {
		r.Ratio = r.Ours / r.Ref
	}
	return r
}

func medianP99(ds []time.Duration) (float64, float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	// Nearest rank: with fewer than 100 samples p99 is the maximum.
	i := (99*len(s)+99)/100 - 1
	return ms(s[(len(s)-1)/2]), ms(s[i])
}

// fmtTime prints about 3 significant digits.
func fmtTime(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func (r Row) cells() []string {
	f := func(v, p99, lo float64) string {
		if r.Err != "" && v == 0 {
			return "n/a"
		}
		switch r.Unit {
		case "ms":
			if r.N > 1 && lo > 0 {
				return fmt.Sprintf("%.1f / %.1f ms (min %.1f)", v, p99, lo)
			}
			return fmt.Sprintf("%.1f / %.1f ms", v, p99)
		case "µs", "ns":
			return fmt.Sprintf("%s / %s %s", fmtTime(v), fmtTime(p99), r.Unit)
		}
		if r.N > 1 && p99 > 0 {
			return fmt.Sprintf("%.2f %s (%.2f–%.2f)", v, r.Unit, lo, p99)
		}
		return fmt.Sprintf("%.2f %s", v, r.Unit)
	}
	ratio := "n/a"
	if r.Ratio > 0 {
		ratio = fmt.Sprintf("%.2f", r.Ratio)
	}
	note := r.Note
	if r.Err != "" {
		note = strings.TrimSuffix("ERROR: "+r.Err+"; "+note, "; ")
	}
	ref := r.RefName + ": " + f(r.Ref, r.RefP99, r.RefMin)
	if r.RefName == noRef {
		ref = noRef
	}
	return []string{r.What, f(r.Ours, r.OursP99, r.OursMin), ref, ratio, note}
}

// noRef is the reference of a row that has none (the fleet's churn, its
// per-agent figures): the cell shows just this.
const noRef = "—"

var header = []string{"what", "vxbgp (median / p99 or max (min), or throughput)", "reference", "ratio", "note"}

// WriteText prints the table aligned for a terminal.
func (rep *Report) WriteText(w io.Writer) {
	rows := [][]string{header}
	for _, r := range rep.Rows {
		rows = append(rows, r.cells())
	}
	width := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

// Markdown renders the table.
func (rep *Report) Markdown() string {
	var b strings.Builder
	mode := "full"
	if rep.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "# vxbgp bench (%s), %s on %s, took %s\n\n", mode, rep.Start.Format(time.RFC3339), rep.Host, rep.Duration)
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rep.Rows {
		c := r.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", "\\|")
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	for _, n := range rep.Notes {
		b.WriteString("\n- " + n)
	}
	b.WriteString("\n")
	return b.String()
}

// Save writes bench-<time>.md/.json and latest.md/.json under dir.
func (rep *Report) Save(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	stamp := rep.Start.Format("20060102-150405")
	var files []string
	for _, base := range []string{"bench-" + stamp, "latest"} {
		for ext, data := range map[string][]byte{".md": []byte(rep.Markdown()), ".json": append(js, '\n')} {
			p := filepath.Join(dir, base+ext)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return files, err
			}
			files = append(files, p)
		}
	}
	slices.Sort(files)
	return files, nil
}

// nSamples is "1 sample" or "n samples".
func nSamples(n int) string {
	if n == 1 {
		return "1 sample"
	}
	return fmt.Sprintf("%d samples", n)
}
