package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pullkey/pullkey/cache"
	"github.com/pullkey/pullkey/providers"
)

// Version information, set with -ldflags at release time.
var (
	version = "dev"
	commit  = "unknown"
)

// errUsage marks a command-line error: the usage hint follows it.
var errUsage = errors.New("usage")

// run is pullkey's whole program: it returns the exit code. Errors are
// logged once, here, as one line on stderr; stdout carries only the answer.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "get-credentials", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "get-credentials":
		err = getCredentials(ctx, rest, stdin, stdout, stderr)
	case "install":
		err = installCmd(ctx, rest, stdout, stderr)
	case "uninstall":
		err = uninstallCmd(ctx, rest, stdout)
	case "match-images":
		err = matchImagesCmd(rest, stdout, stderr)
	case "pause":
		err = pauseCmd(ctx, rest)
	case "version":
		fmt.Fprintf(stdout, "pullkey %s (commit %s)\n", version, commit)
	case "help":
		fmt.Fprint(stdout, helpText)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		var h helpError
		if errors.As(err, &h) {
			fmt.Fprint(stdout, h.text)
		} else {
			fmt.Fprint(stdout, helpText)
		}
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "pullkey: %v (see pullkey --help)\n", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	default:
		// One plain line, so kubelet's log shows it readably.
		fmt.Fprintf(stderr, "pullkey: error: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return 1
	}
}

type credentialFlags struct {
	configPath string
	cacheDir   string
	noCache    bool
	timeout    time.Duration
	logLevel   string
	verbose    bool
}

func parseCredentialFlags(args []string) (credentialFlags, map[string]bool, error) {
	var f credentialFlags
	fs := flag.NewFlagSet("pullkey", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.configPath, "config", "", "")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "")
	fs.BoolVar(&f.noCache, "no-cache", false, "")
	fs.DurationVar(&f.timeout, "timeout", 0, "")
	fs.StringVar(&f.logLevel, "log-level", "", "")
	fs.BoolVar(&f.verbose, "v", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, nil, err
		}
		return f, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return f, nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return f, set, nil
}

func getCredentials(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl, set, err := parseCredentialFlags(args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(fl.configPath)
	if err != nil {
		return err
	}
	s := cfg.settings()
	if set["timeout"] {
		if fl.timeout <= 0 || fl.timeout > maxTimeout {
			return fmt.Errorf("%w: --timeout %s must be more than 0 and at most %s", errUsage, fl.timeout, maxTimeout)
		}
		s.timeout = fl.timeout
	}
	if set["log-level"] {
		s.level = fl.logLevel
	}
	if fl.verbose {
		s.level = "debug"
	}
	if set["cache-dir"] {
		s.cacheDir = fl.cacheDir
	}
	if fl.noCache {
		s.noCache = true
	}
	level, err := parseLevel(s.level)
	if err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	log := newLogger(stderr, level)

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	req, err := decodeRequest(stdin)
	if err != nil {
		return err
	}
	set2, err := buildProviders(cfg, providers.Env{Logger: log, Timeout: s.timeout})
	if err != nil {
		return err
	}
	img := req.image
	p, scope, ok, err := set2.Select(img)
	if err != nil {
		return err
	}
	if !ok {
		log.Debug("no provider owns the image; answering without credentials", "image", img.Raw)
		return writeResponse(stdout, emptyResponse(req.apiVersion))
	}
	log = log.With("provider", p.Name(), "registry", img.Registry())

	var c cache.Cache = cache.Null{}
	if !s.noCache && scope.CacheKey != nil {
		c = cache.NewDisk(s.cacheDir, s.margin, time.Now, log)
	}
	key := cache.NewKey(append([]string{p.Name()}, scope.CacheKey...)...)
	start := time.Now()
	cred, outcome, err := c.Get(ctx, key, func(ctx context.Context) (providers.Credential, error) {
		return p.Fetch(ctx, img)
	})
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (gave up after the %s timeout)", err, s.timeout)
		}
		return fmt.Errorf("%s: %s: %w", p.Name(), img.Registry(), err)
	}
	log.Info("credential ready", "image", img.Raw, "cache", string(outcome),
		"expiresAt", formatExpiry(cred.ExpiresAt), "took", time.Since(start).Round(time.Millisecond))
	return writeResponse(stdout, credentialResponse(req.apiVersion, scope, cred, time.Now(), s.margin))
}

func formatExpiry(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
}

// newLogger logs to stderr without timestamps: kubelet, which shows the
// plugin's stderr, stamps its own lines.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})).With("component", "pullkey")
}
