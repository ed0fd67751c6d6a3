package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vxbgp/vxbgp/internal/logfmt"
)

// LogConf are the network config keys of the plugin's log file (Calico's
// log_file_path and log_level). Without logFile the plugin writes only
// warnings, to stderr, which runtimes often drop; with it, every verb
// appends its lines and its outcome to the file.
type LogConf struct {
	LogFile   string `json:"logFile,omitempty"`   // absolute; its directory is created
	LogLevel  string `json:"logLevel,omitempty"`  // of the file: debug, info (default), warn, error
	LogFormat string `json:"logFormat,omitempty"` // of the file: text (default) or json
}

// check validates the keys; errors are code 7 naming the key.
func (c LogConf) check() error {
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		return configError("logFile", fmt.Errorf("%q: must be an absolute path", c.LogFile))
	}
	if c.LogLevel != "" {
		if _, err := logfmt.ParseLevel(c.LogLevel); err != nil {
			return configError("logLevel", err)
		}
	}
	if c.LogFormat != "" {
		if err := logfmt.CheckFormat(c.LogFormat); err != nil {
			return configError("logFormat", err)
		}
	}
	return nil
}

// verbLog is the log of one run of a verb: warnings to stderr as
// always, and with logFile set everything at logLevel to the file. Every
// line names the verb, container, netns and interface.
type verbLog struct {
	*slog.Logger              // stderr and the file: for the verb's code (Deps.Log)
	file         *slog.Logger // the file only: the verb's outcome
	f            *os.File
}

// openLog opens the log of verb for args. The log keys are read here on
// their own, so that a config ParseConf rejects is still logged; invalid
// log keys leave the file out (ParseConf reports them). A file that
// cannot be opened is a warning on stderr, never the verb's failure.
func openLog(stderr io.Writer, verb string, args *skel.CmdArgs) *verbLog {
	attrs := []any{"verb", verb, "containerID", args.ContainerID, "netns", args.Netns, "ifName", args.IfName}
	errLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("plugin", "vxbgp-cni")
	l := &verbLog{Logger: errLog.With(attrs...), file: slog.New(slog.DiscardHandler)}
	var c LogConf
	if json.Unmarshal(args.StdinData, &c) != nil || c.LogFile == "" || c.check() != nil {
		return l
	}
	f, err := openAppend(c.LogFile)
	if err != nil {
		l.Warn("log file not opened; logging warnings to stderr only", "file", c.LogFile, "err", err)
		return l
	}
	level := slog.LevelInfo
	if c.LogLevel != "" {
		level, _ = logfmt.ParseLevel(c.LogLevel)
	}
	// One write per line, and O_APPEND: lines of concurrent plugin runs
	// never interleave. Opened per run, so a rotated file is let go.
	fh := logfmt.Handler(f, c.LogFormat, level)
	l.f = f
	l.file = slog.New(fh).With(attrs...)
	l.Logger = slog.New(slog.NewMultiHandler(errLog.Handler(), fh)).With(attrs...)
	return l
}

func openAppend(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// done logs the verb's outcome to the file and closes it.
func (l *verbLog) done(err error) {
	if err != nil {
		l.file.Error("failed", "code", Code(err), "err", err)
	} else {
		l.file.Info("done")
	}
	if l.f != nil {
		l.f.Close()
	}
}
