// Package e2e drives the built pullkey binary exactly as kubelet does — a
// CredentialProviderRequest on stdin, the response read from stdout — with
// every cloud played by the local stand-ins under test/standin.
package e2e
