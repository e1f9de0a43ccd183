package k8stest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the key material of one control plane: a CA that signs the API server's serving
// certificate, the admin client certificate (group system:masters) and the controller-manager's
// CSR signer, plus the ServiceAccount token signing key pair. All keys are ECDSA P-256, which is
// fast to generate and accepted everywhere Kubernetes takes a key.
type pki struct {
	caCert, caKey         []byte // PEM
	serverCert, serverKey []byte
	adminCert, adminKey   []byte
	saKey, saPub          []byte
	// kubeletCert is kwok's serving certificate (the fake node's kubelet API, 127.0.0.1);
	// kubeletClientCert is the API server's client certificate towards it.
	kubeletCert, kubeletKey             []byte
	kubeletClientCert, kubeletClientKey []byte
}

// pkiFiles names the files writeFiles creates inside the pki directory.
const (
	fileCACert     = "ca.crt"
	fileCAKey      = "ca.key"
	fileServerCert = "apiserver.crt"
	fileServerKey  = "apiserver.key"
	fileAdminCert  = "admin.crt"
	fileAdminKey   = "admin.key"
	fileSAKey      = "sa.key"
	fileSAPub      = "sa.pub"

	fileKubeletCert       = "kubelet.crt"
	fileKubeletKey        = "kubelet.key"
	fileKubeletClientCert = "apiserver-kubelet-client.crt"
	fileKubeletClientKey  = "apiserver-kubelet-client.key"
)

func newPKI(now time.Time, serviceIP net.IP) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "fsa-localcluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	p := &pki{caCert: pemBlock("CERTIFICATE", caDER)}
	if p.caKey, err = ecKeyPEM(caKey); err != nil {
		return nil, err
	}

	leaf := func(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("generate key for %q: %w", tmpl.Subject.CommonName, err)
		}
		tmpl.NotBefore = now.Add(-time.Hour)
		tmpl.NotAfter = now.Add(5 * 365 * 24 * time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := sign(tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
		}
		keyPEM, err = ecKeyPEM(key)
		return pemBlock("CERTIFICATE", der), keyPEM, err
	}
	p.serverCert, p.serverKey, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), serviceIP},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	})
	if err != nil {
		return nil, err
	}
	p.adminCert, p.adminKey, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}

	p.kubeletCert, p.kubeletKey, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kwok-node-0"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	})
	if err != nil {
		return nil, err
	}
	p.kubeletClientCert, p.kubeletClientKey, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service account key: %w", err)
	}
	if p.saKey, err = ecKeyPEM(saKey); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshal service account public key: %w", err)
	}
	p.saPub = pemBlock("PUBLIC KEY", pubDER)
	return p, nil
}

// writeFiles writes the PEM files into dir (created with mode 0700).
func (p *pki) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pki dir: %w", err)
	}
	for name, data := range map[string][]byte{
		fileCACert: p.caCert, fileCAKey: p.caKey,
		fileServerCert: p.serverCert, fileServerKey: p.serverKey,
		fileAdminCert: p.adminCert, fileAdminKey: p.adminKey,
		fileSAKey: p.saKey, fileSAPub: p.saPub,
		fileKubeletCert: p.kubeletCert, fileKubeletKey: p.kubeletKey,
		fileKubeletClientCert: p.kubeletClientCert, fileKubeletClientKey: p.kubeletClientKey,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func ecKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal EC key: %w", err)
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
