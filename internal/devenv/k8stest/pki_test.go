package k8stest

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func TestPKI(t *testing.T) {
	now := time.Now()
	p, err := newPKI(now, net.IPv4(10, 96, 0, 1))
	require.NoError(t, err)
	ca := parseCert(t, p.caCert)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	assert.True(t, ca.IsCA)

	tests := []struct {
		name    string
		cert    []byte
		usage   x509.ExtKeyUsage
		dnsName string
		org     string
	}{
		{name: "apiserver", cert: p.serverCert, usage: x509.ExtKeyUsageServerAuth, dnsName: "kubernetes.default.svc"},
		{name: "admin", cert: p.adminCert, usage: x509.ExtKeyUsageClientAuth, org: "system:masters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := parseCert(t, tt.cert)
			_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tt.dnsName,
				KeyUsages: []x509.ExtKeyUsage{tt.usage}, CurrentTime: now})
			require.NoError(t, err)
			if tt.org != "" {
				assert.Equal(t, []string{tt.org}, cert.Subject.Organization)
			}
		})
	}
	server := parseCert(t, p.serverCert)
	assert.NoError(t, server.VerifyHostname("127.0.0.1"))
	assert.NoError(t, server.VerifyHostname("10.96.0.1"))

	block, _ := pem.Decode(p.saPub)
	require.NotNil(t, block)
	_, err = x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
}

func TestFindBinDirHonoursEnv(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvBinDir, empty)
	_, err := FindBinDir()
	require.Error(t, err, "a directory without the binaries must be rejected")
	assert.Contains(t, err.Error(), "make k8s-bins")
}
