// Package providers defines what a registry credential provider is for
// pullkey: the interface every cloud backend implements, the credential it
// returns, how an image reference is split into registry host and path the
// way kubelet does it, and the ordered, whole-host selection of the one
// provider that owns an image.
//
// This package is the core of pullkey and must stay free of cloud SDKs:
// each backend lives in its own sub-package (providers/ecr, providers/acr,
// providers/ghcr, providers/dockerconfig) and narrows its SDK to the one or
// two calls it makes.
package providers
