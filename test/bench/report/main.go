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
// 90th percentile wall time.
func measure(n int, mk func() *exec.Cmd) (sample, error) {
	var times []time.Duration
	for i := 0; i <= n; i++ {
		cmd := mk()
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return sample{}, fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
		}
		took := time.Since(start)
		if i > 0 {
			times = append(times, took)
		}
	}
	if len(times) == 0 {
		return sample{}, nil
	}
	slices.Sort(times)
	return sample{median: times[len(times)/2], p90: times[len(times)*9/10]}, nil
}

// measureInterleaved runs each command n times, round-robin (after one
// warm-up round), and returns a sample per command.
func measureInterleaved(n int, mks []func() *exec.Cmd) ([]sample, error) {
	times := make([][]time.Duration, len(mks))
	for round := 0; round <= n; round++ {
		for i, mk := range mks {
			cmd := mk()
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
			}
			took := time.Since(start)
			if round > 0 {
				times[i] = append(times[i], took)
			}
		}
	}
	out := make([]sample, len(mks))
	for i, ts := range times {
		slices.Sort(ts)
		out[i] = sample{median: ts[len(ts)/2], p90: ts[len(ts)*9/10], maxRSSKiB: peakRSS(mks[i])}
	}
	return out, nil
}

// peakRSS runs the command once under GNU time and returns its peak RSS in
// KiB, or -1 when /usr/bin/time is not there. (The rusage of a child that Go
// starts is no use here: Go starts children with vfork, so the child's
// high-water mark includes the parent's memory at the time.)
func peakRSS(mk func() *exec.Cmd) int64 {
	cmd := mk()
	out, err := os.CreateTemp("", "rss-")
	if err != nil {
		return -1
	}
	out.Close()
	defer os.Remove(out.Name())
	timed := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", out.Name(), cmd.Path}, cmd.Args[1:]...)...)
	timed.Env, timed.Stdin = cmd.Env, cmd.Stdin
	if err := timed.Run(); err != nil {
		return -1
	}
	b, _ := os.ReadFile(out.Name())
	var kib int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &kib); err != nil {
		return -1
	}
	return kib
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
	fmt.Fprintf(w, "whole-process wall time, median of %d interleaved runs after a warm-up round\n\n", runs)

	req := harness.Request("docker.io/library/nginx")
	run := func(path string, args ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			cmd := exec.Command(path, args...)
			cmd.Env = node.Env
			cmd.Stdin = strings.NewReader(req)
			return cmd
		}
	}
	// Every whole-process variant is measured interleaved (one run of each
	// per round), so drift in the machine's speed hits them all alike.
	type variant struct {
		name string
		mk   func() *exec.Cmd
	}
	variants := []variant{{"minimal Go stdin→stdout", run(minimal)}, {"minimal + pullkey's deps", run(minimalDeps)}}
	args := []string{"--config", node.ConfigPath}
	for _, d := range node.Demos {
		if len(d.Images) == 0 {
			continue
		}
		hitReq := harness.Request(d.Images[0])
		mk := func() *exec.Cmd {
			cmd := exec.Command(bin, args...)
			cmd.Env, cmd.Stdin = node.Env, strings.NewReader(hitReq)
			return cmd
		}
		if _, err := measure(0, mk); err != nil { // fills the cache
			return err
		}
		label := "pullkey cache hit (" + d.Provider + ")"
		if d.Calls == nil {
			label = "pullkey local answer (" + d.Provider + ")"
		}
		variants = append(variants, variant{label, mk})
	}
	mks := make([]func() *exec.Cmd, len(variants))
	for i, v := range variants {
		mks[i] = v.mk
	}
	samples, err := measureInterleaved(runs, mks)
	if err != nil {
		return err
	}
	base, deps := samples[0], samples[1]
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "invocation\tmedian\tp90\t× minimal\t× minimal+deps\tpeak RSS\t")
	for i, v := range variants {
		s := samples[i]
		rss := "n/a"
		if s.maxRSSKiB > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(s.maxRSSKiB)/1024)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%s\t\n", v.name, s.median.Round(10*time.Microsecond), s.p90.Round(10*time.Microsecond),
			float64(s.median)/float64(base.median), float64(s.median)/float64(deps.median), rss)
	}
	tw.Flush()

	type coldResult struct {
		provider, image string
		cold            sample
		proxied         float64
		concurrentMints int64
	}
	var colds []coldResult
	for _, d := range node.Demos {
		if len(d.Images) == 0 || d.Calls == nil {
			continue
		}
		image := d.Images[0]
		hitReq := harness.Request(image)
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
