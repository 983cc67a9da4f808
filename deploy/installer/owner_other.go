//go:build !unix

package installer

import (
	"errors"
	"io/fs"
)

// ownerUID: no numeric owners here; the mode checks still apply.
func ownerUID(fs.FileInfo) (uint32, bool) { return 0, false }

func syncUnsupported(error) bool { return true }

func dirNotEmpty(err error) bool { return err != nil && !errors.Is(err, fs.ErrNotExist) }
