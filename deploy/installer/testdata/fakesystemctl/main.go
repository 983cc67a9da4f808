// Command fakesystemctl stands in for the node's systemctl in the
// installer's tests: it is built static into a temp host root, and the
// installer runs it chroot-ed there. It appends its arguments to /restarts
// (inside the root) and fails when asked to restart a unit named "broken".
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	args := strings.Join(os.Args[1:], " ")
	if strings.HasSuffix(args, "broken") {
		fmt.Fprintln(os.Stderr, "Failed to restart broken.service: Unit broken.service not found.")
		os.Exit(5)
	}
	f, err := os.OpenFile("/restarts", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(f, args)
	f.Close()
}
