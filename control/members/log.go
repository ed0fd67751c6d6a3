package members

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newMemberlistLogger routes memberlist's logging into slog. Memberlist
// takes a *log.Logger and writes one line per call, prefixed with its
// level: "[DEBUG] memberlist: Initiating push/pull sync with: ...". The
// writer turns the prefix into the slog level and drops it, as MetalLB's
// speakerlist does for go-kit.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(logWriter{l.With("lib", "memberlist")}, "", 0)
}

type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	level, msg := parseLogLine(string(p))
	switch {
	case repeatsRefusal(msg):
		level = slog.LevelDebug
	case level == slog.LevelError && unreachable(msg):
		level = slog.LevelWarn
	}
	w.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// repeatsRefusal tells memberlist's own lines about a member we refused.
// Memberlist logs them at WARN or ERROR on every announcement it drops,
// that is on every gossip round and push/pull while the refused host is
// up; the table has logged the refusal once, with both sides, at Warn
// (see refuseLocked). Memberlist v0.7.0, state.go aliveNode.
func repeatsRefusal(msg string) bool {
	return strings.HasPrefix(msg, "ignoring alive message for ") && strings.Contains(msg, refusedBy) ||
		strings.HasPrefix(msg, "Conflicting address for ")
}

// unreachable tells memberlist's errors that only say a member did not
// answer: what failure detection is for, and what every host logs when
// one is powered off. They are warnings; the member's death, if it comes,
// is logged by the table. Errors about what a member sent (a bad packet,
// a key that does not decrypt it) stay errors. Memberlist v0.7.0,
// state.go and net.go.
func unreachable(msg string) bool {
	for _, p := range []string{"Failed fallback TCP ping", "Failed to send UDP ping", "Failed to send indirect ping",
		"Failed to send indirect UDP ping", "Failed to send UDP compound ping", "Failed to send gossip to",
		"Failed to send ack", "Failed to send nack", "Failed to forward ack", "Push/Pull with ", "Failed to push local state",
		"Failed to read remote state"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// parseLogLine splits "[LEVEL] memberlist: msg\n" into its slog level and
// message. A line without a known level is Info: memberlist has a few
// ("[ERR] Failed to shutdown transport") without the "memberlist:" part,
// and a future one might have no level at all.
func parseLogLine(line string) (slog.Level, string) {
	line = strings.TrimRight(line, "\n")
	level := slog.LevelInfo
	if rest, ok := strings.CutPrefix(line, "["); ok {
		if tag, msg, ok := strings.Cut(rest, "] "); ok {
			if lv, known := levelOf(tag); known {
				level, line = lv, msg
			}
		}
	}
	return level, strings.TrimPrefix(line, "memberlist: ")
}

func levelOf(tag string) (slog.Level, bool) {
	switch tag {
	case "TRACE", "DEBUG":
		return slog.LevelDebug, true
	case "INFO":
		return slog.LevelInfo, true
	case "WARN":
		return slog.LevelWarn, true
	case "ERR", "ERROR":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}
