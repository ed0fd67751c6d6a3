package kubelab

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CertRequest is a certificate for the cluster CA to sign.
type CertRequest struct {
	CommonName string   // the user name a client certificate authenticates as
	Groups     []string // subject O: the user's groups (e.g. system:masters)
	IPs        []net.IP // SANs of a serving certificate
	DNSNames   []string
	// Server and Client select the extended key usages.
	Server, Client bool
}

// KubeletClientUser is the identity kube-apiserver presents to kubelets
// (--kubelet-client-certificate) for exec, attach, port-forward and logs:
// in system:masters, so a kubelet's webhook authorization allows it, as
// kubeadm's apiserver-kubelet-client certificate is allowed.
var KubeletClientUser = CertRequest{CommonName: "kube-apiserver-kubelet-client",
	Groups: []string{"system:masters"}, Client: true}

// Issue signs a new key for r with the CA of p and writes it to
// dir/<name>.crt and dir/<name>.key (mode 0600), returning their paths:
// kubelets' serving certificates, which the API server verifies with
// --kubelet-certificate-authority.
func (p PKI) Issue(dir, name string, r CertRequest) (cert, key string, err error) {
	ca, caKey, err := p.loadCA()
	if err != nil {
		return "", "", err
	}
	certPEM, keyPEM, err := sign(ca, caKey, r)
	if err != nil {
		return "", "", fmt.Errorf("certificate %s: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		return "", "", err
	}
	return cert, key, os.WriteFile(key, keyPEM, 0o600)
}

// loadCA reads the CA certificate and key writePKI wrote.
func (p PKI) loadCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster ca: %w", err)
	}
	keyPEM, err := os.ReadFile(p.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster ca: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("cluster ca: no PEM block")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster ca: %w", err)
	}
	caKey, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster ca key: %w", err)
	}
	return ca, caKey, nil
}

// sign makes a P-256 key and a certificate for r signed by ca, both PEM.
func sign(ca *x509.Certificate, caKey *ecdsa.PrivateKey, r CertRequest) (certPEM, keyPEM []byte, err error) {
	k, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: r.CommonName, Organization: r.Groups},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: r.IPs, DNSNames: r.DNSNames,
	}
	if r.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if r.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), ecPEM(k), nil
}
