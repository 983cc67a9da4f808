// Package deploy holds pullkey's deployment files: kubelet configs, the
// DaemonSet installer (kustomize, Helm), node image builder snippets,
// cloud-init, platform pages and the release and image tooling. Its tests
// decode those files and run the commands the docs show with the built
// binary. The installer itself is package deploy/installer.
package deploy
