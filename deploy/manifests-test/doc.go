// Package manifeststest renders pullkey's kustomize base and Helm chart and
// decodes every object strictly into the k8s.io/api types. It is a separate
// module so that pullkey's own go.mod stays free of Helm and kustomize.
package manifeststest
