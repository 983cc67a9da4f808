package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pullkey/pullkey/deploy/installer"
	"github.com/pullkey/pullkey/providers"
)

// restartTimeout bounds the kubelet restart command.
const restartTimeout = 2 * time.Minute

// minimalConfig is written as pullkey's config when none is given and the
// node has none: the providers that run on the node's identity.
const minimalConfig = "apiVersion: " + configAPIVersion + "\nkind: " + configKind + "\n"

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

// matchImagesCmd prints the matchImages the enabled providers claim.
func matchImagesCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("match-images")
	configPath := fs.String("config", "", "")
	output := fs.String("o", "text", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("%w: match-images: -o %q (want text or json)", errUsage, *output)
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	patterns, err := claimedImages(cfg, stderr)
	if err != nil {
		return err
	}
	if *output == "json" {
		if patterns == nil {
			patterns = []string{}
		}
		b, _ := json.Marshal(patterns)
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	for _, p := range patterns {
		if _, err := fmt.Fprintln(stdout, p); err != nil {
			return err
		}
	}
	return nil
}

// claimedImages builds the enabled providers (cheap: no network) and
// collects their patterns in order, without duplicates.
func claimedImages(cfg Config, stderr io.Writer) ([]string, error) {
	set, err := buildProviders(cfg, providers.Env{Logger: newLogger(stderr, slog.LevelWarn), Timeout: defaultTimeout})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range set {
		for _, pat := range p.Patterns() {
			if !slices.Contains(out, pat) {
				out = append(out, pat)
			}
		}
	}
	return out, nil
}

type installFlags struct {
	hostRoot, platform, binDir, providerConfig, pullkeyConfig, pullkeyConfigFrom string
	matchImages, restartCommand                                                  string
	cacheDuration                                                                time.Duration
	configureKubelet, restartKubelet, dryRun                                     bool
	files                                                                        []installer.File
}

// linuxOnly refuses install and uninstall elsewhere: the node layouts they
// know are Linux ones.
func linuxOnly(cmd string) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%s: supported on Linux nodes only; on Windows nodes put pullkey.exe and the configs in place by hand (README.md, section Install)", cmd)
	}
	return nil
}

func installCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := linuxOnly("install"); err != nil {
		return err
	}
	var f installFlags
	fs := newFlagSet("install")
	fs.StringVar(&f.hostRoot, "host-root", "/", "")
	fs.StringVar(&f.platform, "platform", "generic", "")
	fs.StringVar(&f.binDir, "bin-dir", "", "")
	fs.StringVar(&f.providerConfig, "provider-config", "", "")
	fs.StringVar(&f.pullkeyConfig, "pullkey-config", "", "")
	fs.StringVar(&f.pullkeyConfigFrom, "pullkey-config-from", "", "")
	fs.StringVar(&f.matchImages, "match-images", "", "")
	fs.DurationVar(&f.cacheDuration, "default-cache-duration", installer.DefaultCacheDuration, "")
	fs.BoolVar(&f.configureKubelet, "configure-kubelet", false, "")
	fs.BoolVar(&f.restartKubelet, "restart-kubelet", false, "")
	fs.StringVar(&f.restartCommand, "restart-command", "", "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.Func("secret-file", "", func(v string) error {
		src, dst, ok := strings.Cut(v, "=")
		if !ok || src == "" || !strings.HasPrefix(dst, "/") {
			return errors.New("want SOURCE=/node/path")
		}
		b, err := readBounded(src, maxConfigSize)
		if err != nil {
			return fmt.Errorf("%s: %v", src, err)
		}
		f.files = append(f.files, installer.File{Path: dst, Content: b})
		return nil
	})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := installer.Preset(f.platform)
	if err != nil {
		return fmt.Errorf("%w: --platform: %v", errUsage, err)
	}
	if f.binDir != "" {
		p.BinDir = f.binDir
	}
	if f.pullkeyConfig != "" {
		p.PullkeyConfig = f.pullkeyConfig
	}
	if f.providerConfig != "" {
		p.ProviderConfig = strings.TrimSuffix(f.providerConfig, "/")
		p.ProviderConfigIsDir = strings.HasSuffix(f.providerConfig, "/") || installer.NodeIsDir(f.hostRoot, f.providerConfig)
	}
	if f.cacheDuration < 0 {
		return fmt.Errorf("%w: --default-cache-duration must not be negative", errUsage)
	}

	// pullkey's own config: the given file, else the node's, else a
	// minimal one. It decides which registries kubelet sends to pullkey.
	var content []byte
	var cfg Config
	switch {
	case f.pullkeyConfigFrom != "":
		if cfg, err = loadConfig(f.pullkeyConfigFrom); err != nil {
			return err
		}
		if content, err = readBounded(f.pullkeyConfigFrom, maxConfigSize); err != nil {
			return fmt.Errorf("config %s: %w", f.pullkeyConfigFrom, err)
		}
	default:
		b, ok, err := installer.ReadNodeFile(f.hostRoot, p.PullkeyConfig)
		if err != nil {
			return fmt.Errorf("pullkey config %s: %w", p.PullkeyConfig, err)
		}
		if !ok {
			b, content = []byte(minimalConfig), []byte(minimalConfig)
		}
		if cfg, err = parseConfig(b); err != nil {
			return fmt.Errorf("pullkey config %s on the node: %w", p.PullkeyConfig, err)
		}
	}
	var images []string
	if f.matchImages != "" {
		for _, m := range strings.Split(f.matchImages, ",") {
			if m = strings.TrimSpace(m); m != "" {
				images = append(images, m)
			}
		}
	} else if images, err = claimedImages(cfg, stderr); err != nil {
		return err
	}
	if len(images) == 0 {
		return errors.New("install: the enabled providers claim no registries; enable a provider in the config given with --pullkey-config-from, or pass --match-images")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: find the running binary: %w", err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return fmt.Errorf("install: read the running binary: %w", err)
	}
	opts := installer.Options{
		HostRoot: f.hostRoot, Platform: p, Binary: bin, PullkeyConfig: content, Files: f.files,
		MatchImages: images, DefaultCacheDuration: f.cacheDuration,
		ConfigureKubelet: f.configureKubelet, DryRun: f.dryRun,
	}
	if f.restartKubelet {
		opts.Restart = restarter(f.hostRoot, f.restartCommand, p.RestartCommand)
	}
	res, err := installer.Install(ctx, opts)
	report(stdout, "install", res, f.dryRun)
	return err
}

func uninstallCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if err := linuxOnly("uninstall"); err != nil {
		return err
	}
	fs := newFlagSet("uninstall")
	hostRoot := fs.String("host-root", "/", "")
	restartKubelet := fs.Bool("restart-kubelet", false, "")
	restartCommand := fs.String("restart-command", "", "")
	platform := fs.String("platform", "generic", "")
	dryRun := fs.Bool("dry-run", false, "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := installer.Preset(*platform)
	if err != nil {
		return fmt.Errorf("%w: --platform: %v", errUsage, err)
	}
	opts := installer.UninstallOptions{HostRoot: *hostRoot, DryRun: *dryRun}
	if *restartKubelet {
		opts.Restart = restarter(*hostRoot, *restartCommand, p.RestartCommand)
	}
	res, err := installer.Uninstall(ctx, opts)
	report(stdout, "uninstall", res, *dryRun)
	return err
}

// report prints what changed, one line each.
func report(w io.Writer, what string, res installer.Result, dryRun bool) {
	prefix := ""
	if dryRun {
		prefix = "would "
	}
	for _, c := range res.Changes {
		fmt.Fprintf(w, "%s%s\n", prefix, c)
	}
	if len(res.Changes) == 0 {
		fmt.Fprintf(w, "%s: no changes (already as requested)\n", what)
	}
	if res.Restarted {
		fmt.Fprintln(w, "restarted kubelet")
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// restarter runs the kubelet restart command (the preset's, or
// --restart-command) on the node: chroot-ed into the host root when that is
// not "/", with the node's own systemctl.
func restarter(hostRoot, command string, preset []string) func(context.Context) error {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		argv = preset
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, restartTimeout)
		defer cancel()
		cmd, err := installer.HostCommand(ctx, hostRoot, argv)
		if err != nil {
			return err
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			last := strings.TrimSpace(string(out))
			if i := strings.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			if len(last) > 200 {
				last = last[:200]
			}
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, last)
		}
		return nil
	}
}

// pauseCmd keeps a DaemonSet pod alive after its init container installed
// pullkey, until the pod is stopped.
func pauseCmd(ctx context.Context, args []string) error {
	if err := parseFlags(newFlagSet("pause"), args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return nil
}
