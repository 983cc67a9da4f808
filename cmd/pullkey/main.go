// Command pullkey is a kubelet image credential provider: kubelet runs it
// with a CredentialProviderRequest on stdin and reads registry credentials
// for ECR, ACR, GHCR (and a node-held docker config) from its stdout.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
