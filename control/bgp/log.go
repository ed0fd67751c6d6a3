package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// slogAdapter routes GoBGP's own logging (pkg/log.Logger) into slog.
//
// Fatal does not exit. GoBGP v3.37.0 calls Fatal only on broken internal
// invariants (server.go "unknown msg type", table.go "path's nlri is nil",
// policy.go "failed to create routing policy") and, with a gRPC listener we
// never configure, on a bind failure. Its default logger then os.Exits,
// which would hide the cause from our log pipeline and skip deferred
// cleanup. We log at error level and panic instead: the stack trace shows
// where it happened, the process still dies (continuing after a broken
// invariant could advertise garbage), and because a crash sends no BGP
// NOTIFICATION, graceful-restart peers keep our routes while the agent is
// restarted. Panic, likewise, logs and panics.
type slogAdapter struct {
	log   *slog.Logger
	level atomic.Uint32 // gobgplog.LogLevel
	// hook, when set, sees every Warn and Info message before any level
	// filtering (the speaker's session errors, lasterror.go).
	hook func(msg string, f gobgplog.Fields)
}

var _ gobgplog.Logger = (*slogAdapter)(nil)

// GoBGPLogger is the adapter for a GoBGP server that is not a Speaker (the
// bench's plain speaker), so that its logs go the same way.
func GoBGPLogger(l *slog.Logger) gobgplog.Logger { return newSlogAdapter(l) }

func newSlogAdapter(l *slog.Logger) *slogAdapter {
	a := &slogAdapter{log: l}
	// GoBGP guards its expensive debug messages with GetLevel() >= Debug,
	// so report Debug only when the slog handler would print it.
	lv := gobgplog.InfoLevel
	if l.Enabled(context.Background(), slog.LevelDebug) {
		lv = gobgplog.DebugLevel
	}
	a.level.Store(uint32(lv))
	return a
}

// FatalError is the panic value of the adapter's Fatal and Panic.
type FatalError struct{ Msg string }

func (e FatalError) Error() string { return "gobgp: " + e.Msg }

func (a *slogAdapter) Panic(msg string, f gobgplog.Fields) {
	a.emit(slog.LevelError, gobgplog.PanicLevel, "gobgp panic: "+msg, f)
	panic(FatalError{Msg: msg})
}

func (a *slogAdapter) Fatal(msg string, f gobgplog.Fields) {
	a.emit(slog.LevelError, gobgplog.FatalLevel, "gobgp fatal: "+msg, f)
	panic(FatalError{Msg: msg})
}

func (a *slogAdapter) Error(msg string, f gobgplog.Fields) {
	a.emit(slog.LevelError, gobgplog.ErrorLevel, msg, f)
}
func (a *slogAdapter) Warn(msg string, f gobgplog.Fields) {
	if a.hook != nil {
		a.hook(msg, f)
	}
	if msg == msgUnknownWithdraw {
		a.emit(slog.LevelDebug, gobgplog.DebugLevel, msg, f)
		return
	}
	a.emit(slog.LevelWarn, gobgplog.WarnLevel, msg, f)
}

// msgUnknownWithdraw is GoBGP's warning for a peer withdrawing a route it
// never sent us (internal/pkg/table/destination.go:302). FRR 8.4 sends
// one for each route of ours it learns over eBGP (seen in control/routed's
// TestFRRTopOfRack): it keeps the route from us, our AS being in its path,
// with a withdrawal whether or not it had advertised it. Harmless, one per
// route and session, so it is logged at debug level.
const msgUnknownWithdraw = "No matching path for withdraw found, may be path was not installed into table"

func (a *slogAdapter) Info(msg string, f gobgplog.Fields) {
	if a.hook != nil {
		a.hook(msg, f)
	}
	a.emit(slog.LevelInfo, gobgplog.InfoLevel, msg, f)
}
func (a *slogAdapter) Debug(msg string, f gobgplog.Fields) {
	a.emit(slog.LevelDebug, gobgplog.DebugLevel, msg, f)
}

func (a *slogAdapter) SetLevel(l gobgplog.LogLevel) { a.level.Store(uint32(l)) }
func (a *slogAdapter) GetLevel() gobgplog.LogLevel  { return gobgplog.LogLevel(a.level.Load()) }

func (a *slogAdapter) emit(sl slog.Level, gl gobgplog.LogLevel, msg string, f gobgplog.Fields) {
	// Panic and Fatal always get through, whatever SetLevel said.
	if gl > gobgplog.FatalLevel && gl > a.GetLevel() {
		return
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, sl) {
		return
	}
	a.log.LogAttrs(ctx, sl, msg, fieldAttrs(f)...)
}

// fieldAttrs converts GoBGP's fields to slog attributes with our key
// names: GoBGP's "Key" is the neighbour address on peer topics, and its
// errors come as "Error" or "Err". Keys are sorted so output is stable.
func fieldAttrs(f gobgplog.Fields) []slog.Attr {
	if len(f) == 0 {
		return nil
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	topic, _ := f["Topic"].(string)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		v := f[k]
		switch k {
		case "":
			continue
		case "Key":
			if topic == "Peer" || topic == "Operation" {
				attrs = append(attrs, slog.Any("peer", v))
			} else {
				attrs = append(attrs, slog.Any("key", v))
			}
		case "Error", "Err":
			attrs = append(attrs, slog.String("err", fmt.Sprint(v)))
		case gobgplog.FieldFacility:
			attrs = append(attrs, slog.Any("facility", v))
		default:
			attrs = append(attrs, slog.Any(strings.ToLower(k[:1])+k[1:], v))
		}
	}
	return attrs
}
