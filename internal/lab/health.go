package lab

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Health lists what went wrong with the lab's agents without a test
// asking for it: an agent that exited on its own, a panic or a Go fatal
// error in its log, an ERROR line no test declared expected (ExpectErrors).
// The e2e helpers fail a test on any of them, so a crash that the
// scenario's own checks happen not to notice still fails it.
func (l *Lab) Health() []string {
	l.mu.Lock()
	allowed := append([]*regexp.Regexp(nil), l.allowed...)
	l.mu.Unlock()
	var out []string
	for _, h := range l.Hosts {
		h.mu.Lock()
		ds, mayExit := append([]*daemon(nil), h.started...), h.mayExit
		h.mu.Unlock()
		for _, d := range ds {
			if done, err := d.exited(); done && !d.asked.Load() && !mayExit {
				out = append(out, fmt.Sprintf("%s: vxbgpd (pid %d) exited unasked: %v", h.Name, d.pid(), err))
			}
		}
		bad, err := badLines(h.LogPath, allowed, mayExit)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: read log: %v", h.Name, err))
		}
		for _, line := range bad {
			out = append(out, fmt.Sprintf("%s: %s", h.Name, line))
		}
	}
	return out
}

// ExpectErrors declares ERROR log lines matching any of the regular
// expressions expected: a test that provokes an error says which.
func (l *Lab) ExpectErrors(res ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, re := range res {
		l.allowed = append(l.allowed, regexp.MustCompile(re))
	}
}

// ExpectExit declares that the agent on h may exit on its own (a test of
// a refusal to start), with ERROR lines in its log.
func (h *Host) ExpectExit() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mayExit = true
}

// maxBadLines bounds what Health quotes of one log.
const maxBadLines = 5

// badLines returns the log lines of path that show a panic, a fatal error
// or an unexpected ERROR (any ERROR is expected when errorsOK).
func badLines(path string, allowed []*regexp.Regexp, errorsOK bool) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if !isBad(line, allowed, errorsOK) {
			continue
		}
		if n++; n <= maxBadLines {
			out = append(out, line)
		}
	}
	if n > maxBadLines {
		out = append(out, fmt.Sprintf("... and %d more such lines", n-maxBadLines))
	}
	return out, sc.Err()
}

func isBad(line string, allowed []*regexp.Regexp, errorsOK bool) bool {
	switch {
	case strings.HasPrefix(line, "panic:"), strings.HasPrefix(line, "fatal error:"):
		return true
	case errorsOK || !strings.Contains(line, "level=ERROR"):
		return false
	}
	for _, re := range allowed {
		if re.MatchString(line) {
			return false
		}
	}
	return true
}
