package members

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

// Each target is called on by the first reconnectCallers members alive by
// name, the target aside; a member back from the dead once, a dead one
// every round.
func TestReconnectTargets(t *testing.T) {
	const dead, back = "127.0.0.6:7946", "127.0.0.10:7946" // x, w
	for _, tc := range []struct {
		self string
		want []string
	}{
		{"a", []string{back, dead}}, // among the first three for both
		{"c", []string{back, dead}},
		{"d", nil}, // fourth: a, b and c call
	} {
		tab := newTable(meta(tc.self, 1), time.Hour, slog.New(slog.DiscardHandler))
		for i, name := range []string{"a", "b", "c", "d", "x", "y", "z"} {
			if name == tc.self {
				continue
			}
			tab.members[name] = &entry{Member: Member{Meta: meta(name, 2+i), State: Alive}, port: 7946}
		}
		tab.members["x"].State = Dead
		tab.members["y"].State = Left
		tab.members["z"].refused = true
		tab.members["w"] = &entry{Member: Member{Meta: meta("w", 10), State: Alive}, port: 7946}
		tab.back["w"] = true
		if got := tab.reconnectTargets(); !slices.Equal(got, tc.want) {
			t.Errorf("%s calls on %v, want %v", tc.self, got, tc.want)
		}
		if got := tab.reconnectTargets(); len(tc.want) > 0 && !slices.Equal(got, []string{dead}) {
			t.Errorf("%s, second round: calls on %v, want only the dead one %s", tc.self, got, dead)
		}
	}
}

// A host cut off from everyone calls on every member.
func TestReconnectAlone(t *testing.T) {
	tab := newTable(meta("z", 1), time.Hour, slog.New(slog.DiscardHandler))
	for i, name := range []string{"a", "b", "c", "d"} {
		tab.members[name] = &entry{Member: Member{Meta: meta(name, 2+i), State: Dead}, port: 7946}
	}
	if got := tab.reconnectTargets(); len(got) != 4 {
		t.Errorf("alone, calls on %v, want all four", got)
	}
}
