package main

import (
	"strings"
	"testing"
)

// FuzzDecodeRequest checks that no input makes the request decoder panic,
// and that whatever it accepts has a parsed image and a known apiVersion.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"ghcr.io/a/b"}`)
	f.Add(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"x","serviceAccountToken":"t","serviceAccountAnnotations":{"a":"b"}}`)
	f.Add(`{}`)
	f.Add(`[]`)
	f.Add(`{"image":1}`)
	f.Fuzz(func(t *testing.T, in string) {
		req, err := decodeRequest(strings.NewReader(in))
		if err != nil {
			return
		}
		if req.image.Host == "" || req.image.Path == "" {
			t.Fatalf("accepted %q with empty image parts", in)
		}
		if req.apiVersion != apiVersionV1 && req.apiVersion != apiVersionV1beta1 {
			t.Fatalf("accepted apiVersion %q", req.apiVersion)
		}
	})
}
