//go:build unix

package installer

import (
	"os/exec"
	"syscall"
)

// chroot makes cmd run with root as its "/".
func chroot(cmd *exec.Cmd, root string) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	return nil
}
