package acr

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/pullkey/pullkey/providers/internal/secretfile"
)

// maxSecretFile bounds a client secret or certificate file.
const maxSecretFile = 64 << 10

// ServicePrincipal is the weaker, optional mode for clusters without a
// managed identity: an app registration's client secret or certificate kept
// in a root-only file on the node. The files are read at every token fetch,
// so rotating them needs no restart.
type ServicePrincipal struct {
	ClientID string
	// SecretFile holds the client secret (one line); CertificateFile holds
	// a PEM certificate and its unencrypted private key. Exactly one is set.
	SecretFile, CertificateFile string
}

func (sp *ServicePrincipal) credential(tenant string, opts azcore.ClientOptions) (TokenSource, error) {
	if sp.SecretFile != "" {
		b, err := readRootOnly(sp.SecretFile)
		if err != nil {
			return nil, err
		}
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return nil, fmt.Errorf("client secret file %s is empty: write the service principal's secret into it", sp.SecretFile)
		}
		return azidentity.NewClientSecretCredential(tenant, sp.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	}
	b, err := readRootOnly(sp.CertificateFile)
	if err != nil {
		return nil, err
	}
	certs, key, err := azidentity.ParseCertificates(b, nil)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: not a PEM certificate with an unencrypted private key", sp.CertificateFile)
	}
	return azidentity.NewClientCertificateCredential(tenant, sp.ClientID, certs, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts})
}

// readRootOnly reads a secret file, refusing one that group or others may
// read or that someone other than root (or pullkey's own user) owns.
func readRootOnly(path string) ([]byte, error) {
	return secretfile.Read("secret file", path, maxSecretFile)
}
