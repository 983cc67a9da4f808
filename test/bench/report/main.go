// Command report is `make bench`'s whole-process table: the wall time of a
// pullkey cache-hit invocation against a minimal stdin→stdout Go binary and
// against that binary linking pullkey's dependencies, each provider's cold
// path, upstream calls for 50 concurrent cold invocations, peak RSS and
// binary size. It reports; it never fails on a slow machine.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin/all"
)

func main() {
	bin := flag.String("bin", "bin/pullkey", "the pullkey binary")
	out := flag.String("out", "out/bench.txt", "where to write the table as well")
	runs := flag.Int("runs", 200, "invocations per whole-process measurement")
	coldRuns := flag.Int("cold-runs", 20, "cold invocations per provider")
	flag.Parse()
	var buf bytes.Buffer
	w := io.MultiWriter(os.Stdout, &buf)
	if err := report(w, *bin, *runs, *coldRuns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	os.MkdirAll(filepath.Dir(*out), 0o755)
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("\n(written to %s)\n", *out)
}

type sample struct {
	median, p90 time.Duration
	maxRSSKiB   int64
}

// measure runs cmd n times (after one warm-up) and returns the median and
// 90th percentile wall time and the largest peak RSS.
func measure(n int, mk func() *exec.Cmd) (sample, error) {
	var times []time.Duration
	var rss int64
	for i := 0; i <= n; i++ {
		cmd := mk()
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return sample{}, fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
		}
		took := time.Since(start)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > rss {
			rss = ru.Maxrss
		}
		if i > 0 {
			times = append(times, took)
		}
	}
	if len(times) == 0 {
		return sample{maxRSSKiB: rss}, nil
	}
	slices.Sort(times)
	return sample{median: times[len(times)/2], p90: times[len(times)*9/10], maxRSSKiB: rss}, nil
}

func buildTool(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v: %s", pkg, err, b)
	}
	return out, nil
}

func report(w io.Writer, bin string, runs, coldRuns int) error {
	bin, _ = filepath.Abs(bin)
	tmp, err := os.MkdirTemp("", "pullkey-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	minimal, err := buildTool(tmp, "./test/bench/report/testdata/minimal")
	if err != nil {
		return err
	}
	minimalDeps, err := buildTool(tmp, "./test/bench/report/testdata/minimaldeps")
	if err != nil {
		return err
	}
	node, err := all.Start(filepath.Join(tmp, "node"))
	if err != nil {
		return err
	}
	defer node.Close()

	fmt.Fprintf(w, "pullkey bench — %s, %d CPUs, %s/%s, %s\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(w, "whole-process wall time, median of %d runs after a warm-up (p90 in brackets)\n\n", runs)

	req := harness.Request("docker.io/library/nginx")
	run := func(path string, args ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			cmd := exec.Command(path, args...)
			cmd.Env = node.Env
			cmd.Stdin = strings.NewReader(req)
			return cmd
		}
	}
	base, err := measure(runs, run(minimal))
	if err != nil {
		return err
	}
	deps, err := measure(runs, run(minimalDeps))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "invocation\tmedian\tp90\t× minimal\t× minimal+deps\tpeak RSS\t")
	row := func(name string, s sample) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.1f MiB\t\n", name, s.median.Round(10*time.Microsecond), s.p90.Round(10*time.Microsecond),
			float64(s.median)/float64(base.median), float64(s.median)/float64(deps.median), float64(s.maxRSSKiB)/1024)
	}
	row("minimal Go stdin→stdout", base)
	row("minimal + pullkey's deps", deps)

	// Cache hits: one cold lookup fills the disk cache, then every run hits.
	type coldResult struct {
		provider, image string
		cold            sample
		proxied         float64
		concurrentMints int64
	}
	var colds []coldResult
	for _, d := range node.Demos {
		if len(d.Images) == 0 {
			continue
		}
		image := d.Images[0]
		hitReq := harness.Request(image)
		args := []string{"--config", node.ConfigPath}
		if _, err := measure(0, func() *exec.Cmd { // warm the cache
			cmd := exec.Command(bin, args...)
			cmd.Env, cmd.Stdin = node.Env, strings.NewReader(hitReq)
			return cmd
		}); err != nil {
			return err
		}
		hit, err := measure(runs, func() *exec.Cmd {
			cmd := exec.Command(bin, args...)
			cmd.Env, cmd.Stdin = node.Env, strings.NewReader(hitReq)
			return cmd
		})
		if err != nil {
			return err
		}
		label := "pullkey cache hit (" + d.Provider + ")"
		if d.Calls == nil {
			label = "pullkey local answer (" + d.Provider + ")"
		}
		row(label, hit)
		if d.Calls == nil {
			continue
		}
		// Cold path: a fresh cache directory every run.
		before := node.Proxied.Load()
		i := 0
		cold, err := measure(coldRuns, func() *exec.Cmd {
			i++
			cmd := exec.Command(bin, append(args, "--cache-dir", filepath.Join(tmp, fmt.Sprintf("cold-%s-%d", d.Provider, i)))...)
			cmd.Env, cmd.Stdin = node.Env, strings.NewReader(hitReq)
			return cmd
		})
		if err != nil {
			return err
		}
		proxied := float64(node.Proxied.Load()-before) / float64(coldRuns+1)
		// 50 concurrent cold invocations sharing one fresh cache dir.
		mintsBefore := d.Calls.Load()
		shared := filepath.Join(tmp, "concurrent-"+d.Provider)
		var wg sync.WaitGroup
		var failures sync.Map
		for j := 0; j < 50; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(bin, append(args, "--cache-dir", shared)...)
				cmd.Env, cmd.Stdin = node.Env, strings.NewReader(hitReq)
				if out, err := cmd.CombinedOutput(); err != nil {
					failures.Store(j, string(out))
				}
			}()
		}
		wg.Wait()
		failures.Range(func(k, v any) bool { err = fmt.Errorf("concurrent run: %v", v); return false })
		if err != nil {
			return err
		}
		colds = append(colds, coldResult{d.Provider, image, cold, proxied, d.Calls.Load() - mintsBefore})
	}
	tw.Flush()

	if len(colds) > 0 {
		fmt.Fprintf(w, "\ncold path (fresh cache dir), median of %d runs; stand-ins on loopback, so this is pullkey's own cost plus local round trips\n\n", coldRuns)
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "provider\tcold median\tp90\tHTTPS round trips via proxy / invocation\tmints for 50 concurrent cold invocations\t")
		for _, c := range colds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%d\t\n", c.provider, c.cold.median.Round(10*time.Microsecond), c.cold.p90.Round(10*time.Microsecond), c.proxied, c.concurrentMints)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, f := range []struct{ name, path string }{{"pullkey", bin}, {"minimal", minimal}, {"minimal+deps", minimalDeps}} {
		if fi, err := os.Stat(f.path); err == nil {
			fmt.Fprintf(w, "binary size %-13s %6.1f MiB\n", f.name, float64(fi.Size())/(1<<20))
		}
	}
	return nil
}
