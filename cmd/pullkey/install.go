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

// commandHelp says what each subcommand with flags does, for its --help.
var commandHelp = map[string]string{
	"match-images": "Print the kubelet matchImages patterns the enabled providers claim, for a\nCredentialProviderConfig.",
	"install":      "Install pullkey on a node: copy this binary into kubelet's credential\nprovider bin dir (atomically), write pullkey's config, and merge pullkey's\nentry into kubelet's CredentialProviderConfig, keeping every other entry.\nThe result is validated with kubelet's rules before anything is replaced;\nan invalid existing config or an unsafe path is refused and nothing is\ntouched. A second run changes nothing and says so.",
	"uninstall":    "Remove exactly what install added and restore what it replaced.",
	"pause":        "Wait until SIGTERM or SIGINT: the DaemonSet's keep-alive container.",
}

// helpError carries a subcommand's --help text; it unwraps to flag.ErrHelp.
type helpError struct{ text string }

func (h helpError) Error() string { return "help requested" }
func (h helpError) Unwrap() error { return flag.ErrHelp }

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			fmt.Fprintf(&b, "Usage: pullkey %s [flags]\n\n%s\n\nFlags:\n", fs.Name(), commandHelp[fs.Name()])
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return helpError{text: b.String()}
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
	configPath := fs.String("config", "", "pullkey's config `FILE` (default: none, so ecr and acr)")
	output := fs.String("o", "text", "output `format`: text (one pattern per line) or json")
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
	fs.StringVar(&f.hostRoot, "host-root", "/", "the node's root file system, as mounted (`DIR`; a DaemonSet mounts / at /host)")
	fs.StringVar(&f.platform, "platform", "generic", "node layout preset: kubeadm, generic, capi, image-builder, eks, aks, capz, k3s, rke2 or kops (`NAME`)")
	fs.StringVar(&f.binDir, "bin-dir", "", "kubelet's --image-credential-provider-bin-dir (`DIR`; default: the preset's)")
	fs.StringVar(&f.providerConfig, "provider-config", "", "kubelet's --image-credential-provider-config: a `FILE`, or a DIR/ (trailing slash) where pullkey writes pullkey.yaml (default: the preset's)")
	fs.StringVar(&f.pullkeyConfig, "pullkey-config", "", "where pullkey's own config goes on the node (`PATH`; default /etc/pullkey/config.yaml)")
	fs.StringVar(&f.pullkeyConfigFrom, "pullkey-config-from", "", "`FILE` to install as pullkey's config (default: keep the node's, or write a minimal one)")
	fs.StringVar(&f.matchImages, "match-images", "", "comma-separated matchImages `PATTERNS` instead of the enabled providers' own")
	fs.DurationVar(&f.cacheDuration, "default-cache-duration", installer.DefaultCacheDuration, "the entry's defaultCacheDuration (kubelet uses it for empty answers)")
	fs.BoolVar(&f.configureKubelet, "configure-kubelet", false, "add kubelet's two flags to KUBELET_EXTRA_ARGS where the platform does not set them")
	fs.BoolVar(&f.restartKubelet, "restart-kubelet", false, "restart kubelet when its config changed (never otherwise)")
	fs.StringVar(&f.restartCommand, "restart-command", "", "`COMMAND` that restarts kubelet (default: the preset's, e.g. systemctl restart kubelet)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan, change nothing")
	fs.Func("secret-file", "install a secret the config refers to, root-only 0600: `SRC=/node/path` (repeatable)", func(v string) error {
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
	hostRoot := fs.String("host-root", "/", "the node's root file system, as mounted (`DIR`)")
	restartKubelet := fs.Bool("restart-kubelet", false, "restart kubelet when its config changed")
	restartCommand := fs.String("restart-command", "", "`COMMAND` that restarts kubelet (default: the preset's)")
	platform := fs.String("platform", "generic", "node layout preset, for the restart command (`NAME`)")
	dryRun := fs.Bool("dry-run", false, "print the plan, change nothing")
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
