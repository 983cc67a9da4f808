//go:build !unix

package cache

import "os"

// openFlags: no O_NOFOLLOW/O_NONBLOCK here; the directory check guards.
const openFlags = 0

// ownedByMe: ownership is the ACL's business on Windows.
func ownedByMe(os.FileInfo) bool { return true }
