package harness

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Proxy is an HTTP(S) proxy that plays every host itself: it answers CONNECT,
// terminates TLS with a certificate for the requested host signed by its own
// test CA, and hands each decrypted request to Handler. Plain-HTTP proxy
// requests go to Handler too. Run pullkey with HTTPS_PROXY/HTTP_PROXY set
// to URL and SSL_CERT_FILE set to CAFile, and the real cloud host names
// (api.ecr-fips.us-west-2.amazonaws.com, x.azurecr.io, api.github.com)
// reach the test's fakes, with r.Host telling which host was asked.
type Proxy struct {
	URL    string // http://127.0.0.1:port
	CAFile string // PEM of the test CA
	// Handler serves every proxied request; r.Host is the requested host
	// and r.TLS is set for requests that came through CONNECT.
	Handler http.Handler

	ln     net.Listener
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	mu     sync.Mutex
	certs  map[string]*tls.Certificate
	wg     sync.WaitGroup
}

// StartProxy starts a Proxy; the test's cleanup stops it.
func StartProxy(t interface {
	Helper()
	Fatal(...any)
	TempDir() string
	Cleanup(func())
}, h http.Handler) *Proxy {
	t.Helper()
	p, err := NewProxy(t.TempDir(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewProxy starts a Proxy whose CA file is written to dir.
func NewProxy(dir string, h http.Handler) (*Proxy, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pullkey test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	caFile := filepath.Join(dir, "test-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), CAFile: caFile, Handler: h, ln: ln, caCert: ca, caKey: key, certs: map[string]*tls.Certificate{}}
	srv := &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.ln.Close() }

// Env returns the environment that routes pullkey through the proxy.
func (p *Proxy) Env() []string {
	return []string{"HTTPS_PROXY=" + p.URL, "HTTP_PROXY=" + p.URL, "https_proxy=" + p.URL, "http_proxy=" + p.URL, "NO_PROXY=", "no_proxy=", "SSL_CERT_FILE=" + p.CAFile}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		// Plain HTTP through the proxy: the request URL is absolute.
		r.Host = r.URL.Host
		r.RequestURI = r.URL.RequestURI()
		p.Handler.ServeHTTP(w, r)
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	tlsConn := tls.Server(conn, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.cert(host) }})
	go func() {
		defer tlsConn.Close()
		if err := tlsConn.Handshake(); err != nil {
			return
		}
		br := bufio.NewReader(tlsConn)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			req.RemoteAddr = conn.RemoteAddr().String()
			st := tlsConn.ConnectionState()
			req.TLS = &st
			req.URL.Scheme = "https"
			req.URL.Host = req.Host
			rw := newConnResponseWriter(tlsConn)
			p.Handler.ServeHTTP(rw, req)
			rw.finish()
			if req.Close || strings.EqualFold(req.Header.Get("Connection"), "close") {
				return
			}
		}
	}()
}

func (p *Proxy) cert(host string) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.certs[host]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	p.certs[host] = c
	return c, nil
}
