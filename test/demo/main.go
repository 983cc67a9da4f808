// Command demo is `make demo`: it runs the real pullkey binary the way
// kubelet does against local stand-ins of the clouds, on a throwaway node
// laid out in a temp dir, and prints what kubelet would get for one image of
// each provider plus a public one — each image twice, the second time from
// pullkey's disk cache. Passwords are masked.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pullkey/pullkey/test/harness"
	"github.com/pullkey/pullkey/test/standin/all"
)

func main() {
	bin := flag.String("bin", "bin/pullkey", "the pullkey binary to run")
	flag.Parse()
	if err := runDemo(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func runDemo(bin string) error {
	dir, err := os.MkdirTemp("", "pullkey-demo-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	node, err := all.Start(dir)
	if err != nil {
		return err
	}
	defer node.Close()

	var names []string
	type lookup struct{ image, provider string }
	var lookups []lookup
	for _, d := range node.Demos {
		names = append(names, d.Provider)
		for _, img := range d.Images {
			lookups = append(lookups, lookup{img, d.Provider})
		}
	}
	lookups = append(lookups, lookup{"docker.io/library/nginx", "-"}, lookup{"evil.io/myregistry.azurecr.io/web", "-"})

	fmt.Printf("pullkey demo: a throwaway node in %s\n", dir)
	fmt.Printf("  providers: %s; clouds are played by local stand-ins behind a proxy with a test CA\n", strings.Join(names, ", "))
	fmt.Printf("  each image is looked up twice, as two kubelet cache misses would: the second answer comes from pullkey's disk cache\n\n")

	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPROVIDER\tUSERNAME @ AUTH KEY\tPASSWORD\tEXPIRES IN (cacheDuration)\tKEY TYPE\tCACHE\tTOOK")
	failed := false
	for _, l := range lookups {
		for round := 0; round < 2; round++ {
			row, err := resolve(bin, node.Env, node.ConfigPath, l.image)
			if err != nil {
				failed = true
				fmt.Fprintf(tw, "%s\t%s\tERROR: %v\n", l.image, l.provider, err)
				continue
			}
			fmt.Fprintln(tw, row)
		}
	}
	tw.Flush()
	fmt.Println()
	for _, d := range node.Demos {
		if d.Calls != nil {
			fmt.Printf("  %s stand-in minted %d credential(s) for %d lookups\n", d.Provider, d.Calls.Load(), 2*len(d.Images))
		}
	}
	fmt.Printf("\nBy hand, on a node:\n  echo '%s' \\\n    | pullkey --config /etc/pullkey/config.yaml\n", harness.Request("123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app"))
	if failed {
		return fmt.Errorf("some lookups failed")
	}
	return nil
}

var (
	providerRE = regexp.MustCompile(`provider=(\S+)`)
	cacheRE    = regexp.MustCompile(`cache=(\S+)`)
)

func resolve(bin string, env []string, cfgPath, image string) (string, error) {
	cmd := exec.Command(bin, "get-credentials", "--config", cfgPath, "--log-level", "info")
	cmd.Env = env
	cmd.Stdin = strings.NewReader(harness.Request(image))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	took := time.Since(start).Round(time.Millisecond)
	var resp harness.Response
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return "", err
	}
	provider, cacheState := "-", "-"
	if m := providerRE.FindStringSubmatch(errb.String()); m != nil {
		provider = m[1]
	}
	if m := cacheRE.FindStringSubmatch(errb.String()); m != nil {
		cacheState = m[1]
	}
	user, pass := "(none: pulls anonymously)", ""
	for key, a := range resp.Auth {
		user, pass = a.Username+" @ "+key, fmt.Sprintf("******** (%d chars)", len(a.Password))
	}
	dur := resp.CacheDuration
	if dur == "" {
		dur = "(kubelet's default)"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", image, provider, user, pass, dur, resp.CacheKeyType, cacheState, took), nil
}
