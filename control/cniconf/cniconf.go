package cniconf

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/vxbgp/vxbgp/control/config"
)

// PluginType is vxbgp-cni's CNI type, which the conflist must use.
const PluginType = "vxbgp-cni"

// DefaultPeriod is how often the file is checked: short enough that a
// conflist deleted by hand is back before anyone notices the node NotReady.
const DefaultPeriod = time.Second

// Mode is the installed file's: the runtime reads it; nothing in it is
// secret (passwords never go in a CNI config).
const Mode os.FileMode = 0o644

// Config is what a Writer installs, and when.
type Config struct {
	Source string // the conflist to install (e.g. from a ConfigMap)
	Dest   string // where the runtime reads it
	// Ready reports whether the agent is ready (nil): the /readyz
	// condition.
	Ready  func() error
	Period time.Duration // 0: DefaultPeriod
	Logger *slog.Logger
}

// Writer keeps Dest equal to Source once Ready. See the package doc.
type Writer struct {
	c      Config
	log    *slog.Logger
	ready  bool // latched; only Run's goroutine touches it
	bad    string
	writes atomic.Int64
}

// New checks Source now, so that a bad conflist stops the agent at start
// with an error naming cni.conflistSource.
func New(c Config) (*Writer, error) {
	if c.Period <= 0 {
		c.Period = DefaultPeriod
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := readSource(c.Source); err != nil {
		return nil, fmt.Errorf("cni.conflistSource: %w", err)
	}
	return &Writer{c: c, log: c.Logger}, nil
}

// Writes is how many times the file was written, for tests and metrics.
func (w *Writer) Writes() int64 { return w.writes.Load() }

// Run keeps the file installed until ctx ends, and leaves it in place.
// On a nil Writer (nothing to install) it only waits for ctx.
func (w *Writer) Run(ctx context.Context) error {
	if w == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(w.c.Period)
	defer t.Stop()
	for {
		w.sync()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sync makes one pass: once ready, Dest gets Source's content unless it
// already has it. Problems are logged (once each), never fatal: the
// runtime keeps whatever file is there.
func (w *Writer) sync() {
	if !w.ready {
		if err := w.c.Ready(); err != nil {
			return
		}
		w.ready = true
	}
	src, err := readSource(w.c.Source)
	if err != nil {
		w.complain(fmt.Sprintf("cni.conflistSource: %v; keeping the installed CNI config", err))
		return
	}
	why, err := w.stale(src)
	if err != nil {
		w.complain(err.Error())
		return
	}
	if why == "" {
		w.bad = ""
		return
	}
	if err := writeFile(w.c.Dest, src); err != nil {
		w.complain(fmt.Sprintf("install CNI config %s: %v", w.c.Dest, err))
		return
	}
	w.bad = ""
	w.writes.Add(1)
	w.log.Info("CNI config installed: the runtime may attach pods", "file", w.c.Dest, "from", w.c.Source, "reason", why)
}

// stale says why Dest must be written ("" if it need not be).
func (w *Writer) stale(src []byte) (string, error) {
	cur, err := os.ReadFile(w.c.Dest)
	switch {
	case os.IsNotExist(err):
		return "missing", nil
	case err != nil:
		return "", fmt.Errorf("read CNI config %s: %w", w.c.Dest, err)
	case !bytes.Equal(cur, src):
		return "content differs from the source", nil
	}
	st, err := os.Stat(w.c.Dest)
	if err != nil {
		return "", fmt.Errorf("stat CNI config %s: %w", w.c.Dest, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm() != Mode {
		return fmt.Sprintf("mode %s, want %s", st.Mode(), Mode), nil
	}
	return "", nil
}

// complain logs a problem once, until it changes or goes away.
func (w *Writer) complain(msg string) {
	if msg != w.bad {
		w.bad = msg
		w.log.Error(msg)
	}
}

// FromConfig is the Writer of the cni keys: nil (whose Run only waits)
// when cni.conflistDest is unset and the agent installs nothing.
func FromConfig(c config.CNI, ready func() error, log *slog.Logger) (*Writer, error) {
	if c.ConflistDest == "" {
		return nil, nil
	}
	return New(Config{Source: c.ConflistSource, Dest: c.ConflistDest, Ready: ready, Logger: log})
}
