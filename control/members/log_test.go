package members

import (
	"log/slog"
	"testing"
)

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Initiating push/pull sync with: b 127.0.0.2:7946\n", slog.LevelDebug, "Initiating push/pull sync with: b 127.0.0.2:7946"},
		{"[INFO] memberlist: Suspect c has failed, no acks received\n", slog.LevelInfo, "Suspect c has failed, no acks received"},
		{"[WARN] memberlist: Refuting a suspect message (from: b)\n", slog.LevelWarn, "Refuting a suspect message (from: b)"},
		{"[ERR] memberlist: Failed to send ping: write udp: boom\n", slog.LevelError, "Failed to send ping: write udp: boom"},
		{"[ERROR] memberlist: x\n", slog.LevelError, "x"},
		{"[ERR] Failed to shutdown transport: x\n", slog.LevelError, "Failed to shutdown transport: x"},
		{"[TRACE] memberlist: x", slog.LevelDebug, "x"},
		{"[LOUD] memberlist: x\n", slog.LevelInfo, "[LOUD] memberlist: x"},
		{"no level at all\n", slog.LevelInfo, "no level at all"},
		{"[WARN]\n", slog.LevelInfo, "[WARN]"},
	} {
		level, msg := parseLogLine(tc.line)
		if level != tc.level || msg != tc.msg {
			t.Errorf("parseLogLine(%q) = %v %q, want %v %q", tc.line, level, msg, tc.level, tc.msg)
		}
	}
}

// Memberlist's own repeats of a refusal we logged once go to debug.
func TestLogRepeatsAtDebug(t *testing.T) {
	rec := newRecorder(t)
	l := newMemberlistLogger(slog.New(rec))
	l.Printf("[WARN] memberlist: ignoring alive message for 'r': refused by a: ASN 0")
	l.Printf("[ERR] memberlist: Conflicting address for b. Mine: 127.0.0.2:7946 Theirs: 127.0.0.3:7946 Old state: 0")
	l.Printf("[WARN] memberlist: ignoring alive message for 'r': Vsn is not present")
	for _, want := range [][]string{
		{"DEBUG ignoring alive message for 'r': refused by a", "lib=memberlist"},
		{"DEBUG Conflicting address for b"},
		{"WARN ignoring alive message for 'r': Vsn"},
	} {
		if !rec.has(want...) {
			t.Errorf("no log line with %q", want)
		}
	}
}

// A member that does not answer is a warning; what a member sent wrong
// stays an error.
func TestLogUnreachableAtWarn(t *testing.T) {
	rec := newRecorder(t)
	l := newMemberlistLogger(slog.New(rec))
	l.Printf("[ERR] memberlist: Failed fallback TCP ping: timeout 300ms: read tcp 10.250.0.1:44096->10.250.0.2:7946: i/o timeout")
	l.Printf("[ERR] memberlist: Push/Pull with h2 failed: dial tcp 10.250.0.2:7946: i/o timeout")
	l.Printf("[ERR] memberlist: failed to receive: no installed keys could decrypt the message from=10.250.0.4:57008")
	for _, want := range [][]string{
		{"WARN Failed fallback TCP ping"},
		{"WARN Push/Pull with h2 failed"},
		{"ERROR failed to receive: no installed keys"},
	} {
		if !rec.has(want...) {
			t.Errorf("no log line with %q", want)
		}
	}
}
