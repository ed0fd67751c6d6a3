package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"k8s.io/klog/v2"

	"github.com/vxbgp/vxbgp/control/config"
)

// startFunc runs the agent until ctx ends: agent.Run.
type startFunc func(ctx context.Context, cfg *config.Config, log *slog.Logger) error

// run is vxbgpd without the process around it: it parses args, loads and
// checks the config and, unless --check or --version, runs start. It
// returns the exit code: 0, 1 for a bad config or a failed agent, 2 for bad
// usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, version string, start startFunc) int {
	fs := flag.NewFlagSet("vxbgpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vxbgpd [--config FILE] [--mode overlay|routed] [--log-format text|json] [--log-level LEVEL] [--check] [--version]\n")
		fs.PrintDefaults()
	}
	path := fs.String("config", config.DefaultPath, "the config `file`")
	mode := fs.String("mode", "", "overlay or routed; overrides the config file's mode")
	var logFormat, logLevel string
	fs.Func("log-format", "text or json; overrides the config file's logFormat", func(s string) error {
		logFormat = s
		return config.CheckLogFormat(s)
	})
	fs.Func("log-level", "debug, info, warn or error; overrides the config file's logLevel", func(s string) error {
		logLevel = s
		_, err := config.ParseLevel(s)
		return err
	})
	check := fs.Bool("check", false, "validate the config and exit: 0 when valid, otherwise 1 with one line per problem")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vxbgpd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "vxbgpd %s\n", version)
		return 0
	}

	cfg, err := load(*path, *mode, logFormat, logLevel)
	if err != nil {
		// One line per problem, each naming its key path.
		for _, p := range config.Problems(err) {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "config %s: ok\n", *path)
		return 0
	}

	log := newLogger(stderr, cfg)
	klog.SetSlogLogger(log.With("component", "client-go")) // kubernetes.enabled: the informer's own log lines
	log.Info("vxbgpd starting", "version", version, "config", *path, "mode", cfg.Mode, "node", cfg.NodeName)
	applyMemoryLimit(cfg, log)
	if err := start(ctx, cfg, log); err != nil {
		log.Error("vxbgpd failed", "err", err)
		return 1
	}
	log.Info("vxbgpd stopped")
	return 0
}

// load reads the config at path, applies the --mode, --log-format and
// --log-level overrides and validates the result.
func load(path, mode, logFormat, logLevel string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg.ApplyMode(mode)
	cfg.ApplyLog(logFormat, logLevel)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
