//go:build !unix

package installer

import (
	"errors"
	"os/exec"
)

func chroot(*exec.Cmd, string) error {
	return errors.New("running a command under a host root needs a Unix node")
}
