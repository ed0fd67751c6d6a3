package bgp

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

func TestSlogAdapter(t *testing.T) {
	tests := []struct {
		name    string
		handler slog.Level
		call    func(l gobgplog.Logger)
		want    string // substring of the output; "" => no output
		panics  bool
	}{
		{
			name: "peer key becomes peer", handler: slog.LevelInfo,
			call: func(l gobgplog.Logger) {
				l.Info("Peer Up", gobgplog.Fields{"Topic": "Peer", "Key": "10.0.0.2", "State": "BGP_FSM_OPENCONFIRM"})
			},
			want: `level=INFO msg="Peer Up" peer=10.0.0.2 state=BGP_FSM_OPENCONFIRM topic=Peer`,
		},
		{
			name: "error key becomes err", handler: slog.LevelInfo,
			call: func(l gobgplog.Logger) {
				l.Warn("failed", gobgplog.Fields{"Topic": "Table", "Key": "l2vpn-evpn", "Error": errors.New("boom")})
			},
			want: `level=WARN msg=failed err=boom key=l2vpn-evpn topic=Table`,
		},
		{
			name: "unknown withdrawal demoted", handler: slog.LevelInfo,
			call: func(l gobgplog.Logger) {
				l.Warn("No matching path for withdraw found, may be path was not installed into table", gobgplog.Fields{"Topic": "Table", "Key": "10.244.1.0/24"})
			},
		},
		{
			name: "debug dropped at info", handler: slog.LevelInfo,
			call: func(l gobgplog.Logger) { l.Debug("noise", nil) },
		},
		{
			name: "debug shown at debug", handler: slog.LevelDebug,
			call: func(l gobgplog.Logger) { l.Debug("noise", nil) },
			want: `level=DEBUG msg=noise`,
		},
		{
			name: "SetLevel filters", handler: slog.LevelDebug,
			call: func(l gobgplog.Logger) {
				l.SetLevel(gobgplog.ErrorLevel)
				l.Warn("hidden", nil)
			},
		},
		{
			name: "fatal logs and panics", handler: slog.LevelInfo,
			call: func(l gobgplog.Logger) {
				l.SetLevel(gobgplog.PanicLevel) // still printed: Fatal is never filtered
				l.Fatal("unknown msg type", gobgplog.Fields{"Topic": "Peer", "Key": "10.0.0.9"})
			},
			want:   `level=ERROR msg="gobgp fatal: unknown msg type" peer=10.0.0.9 topic=Peer`,
			panics: true,
		},
		{
			name: "panic logs and panics", handler: slog.LevelInfo,
			call: func(l gobgplog.Logger) { l.Panic("code logic bug", nil) },
			want: `level=ERROR msg="gobgp panic: code logic bug"`, panics: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: tt.handler,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			l := newSlogAdapter(slog.New(h))
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				tt.call(l)
			}()
			if tt.panics {
				var fe FatalError
				if err, ok := recovered.(error); !ok || !errors.As(err, &fe) {
					t.Fatalf("panic value %#v, want a FatalError", recovered)
				}
			} else if recovered != nil {
				t.Fatalf("unexpected panic %v", recovered)
			}
			got := strings.TrimSpace(buf.String())
			if tt.want == "" && got != "" {
				t.Fatalf("want no output, got %q", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("output %q does not contain %q", got, tt.want)
			}
		})
	}
}

func TestSlogAdapterLevelFollowsHandler(t *testing.T) {
	for _, tt := range []struct {
		handler slog.Level
		want    gobgplog.LogLevel
	}{{slog.LevelDebug, gobgplog.DebugLevel}, {slog.LevelInfo, gobgplog.InfoLevel}, {slog.LevelError, gobgplog.InfoLevel}} {
		l := newSlogAdapter(slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: tt.handler})))
		if got := l.GetLevel(); got != tt.want {
			t.Errorf("handler %v: GetLevel %v, want %v", tt.handler, got, tt.want)
		}
	}
}
