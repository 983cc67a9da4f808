// Package kubelet proves pullkey through kubelet's own credential provider
// code (k8s.io/kubernetes/pkg/credentialprovider/plugin at v1.37.2): its
// tests load the CredentialProviderConfig that deploy/ ships through
// kubelet's loading and validation, register the built pullkey from a bin
// dir, and ask kubelet's keyring for the credentials of real-looking images,
// with every cloud played by the local stand-ins under test/standin.
//
// It is a module of its own, so that the product's go.mod never depends on
// k8s.io/kubernetes. The package holds only tests; see README.md.
package kubelet
