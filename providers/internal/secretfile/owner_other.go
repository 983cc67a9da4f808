//go:build !unix

package secretfile

import "os"

// ownerUID: Windows has no uid; file ACLs are the administrator's to set
// (pullkey runs as kubelet's service account there).
func ownerUID(os.FileInfo) (int, bool) { return 0, false }

// hasUnixModes: Go reports synthetic modes (0666/0444) on Windows.
const hasUnixModes = false

const openFlags = 0
