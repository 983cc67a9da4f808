package installer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// hostPath is the search path for commands run on the node.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// HostCommand returns a command that runs argv on the node: directly when
// hostRoot is "/", else chroot-ed into hostRoot with the node's own binaries
// (the installer image holds nothing but pullkey). argv[0] is looked up in
// the node's standard PATH.
func HostCommand(ctx context.Context, hostRoot string, argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	if hostRoot == "" || filepath.Clean(hostRoot) == "/" {
		return exec.CommandContext(ctx, argv[0], argv[1:]...), nil
	}
	h, err := newHost(hostRoot)
	if err != nil {
		return nil, err
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		path = ""
		for _, dir := range filepath.SplitList(hostPath) {
			real, err := h.resolve(filepath.Join(dir, argv[0]))
			if err != nil {
				continue
			}
			if fi, err := os.Stat(real); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				path = filepath.Join(dir, argv[0])
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("%s: not found on the node (searched %s under %s)", argv[0], hostPath, h.Root)
		}
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Err = nil // looked up on the node, not here
	cmd.Path, cmd.Dir = path, "/"
	cmd.Env = []string{"PATH=" + hostPath}
	return cmd, chroot(cmd, h.Root)
}
