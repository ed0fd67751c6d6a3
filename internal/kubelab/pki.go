package kubelab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PKI is the control plane's key material, as files in its directory.
type PKI struct {
	CACert, CAKey         string // the cluster CA: serving and client certificates
	ServerCert, ServerKey string // kube-apiserver's serving certificate
	SAKey, SAPub          string // service-account token signing pair
	Tokens                string // the static token file (token,user,uid,"groups")
	// KubeletClientCert and Key: the API server's identity towards
	// kubelets (KubeletClientUser).
	KubeletClientCert, KubeletClientKey string
}

// User is a static-token identity of the API server.
type User struct {
	Name   string
	Groups []string
	Token  string // filled by Start
}

// Admin is the user every control plane has: system:masters.
const Admin = "kubelab-admin"

// writePKI makes a CA, a serving certificate for the given IPs (and the
// in-cluster DNS names), a service-account key pair and the token file of
// users in dir/pki.
func writePKI(dir string, ips []net.IP, users []User) (PKI, error) {
	d := filepath.Join(dir, "pki")
	p := PKI{
		CACert: filepath.Join(d, "ca.crt"), CAKey: filepath.Join(d, "ca.key"),
		ServerCert: filepath.Join(d, "apiserver.crt"), ServerKey: filepath.Join(d, "apiserver.key"),
		SAKey: filepath.Join(d, "sa.key"), SAPub: filepath.Join(d, "sa.pub"),
		Tokens: filepath.Join(d, "tokens.csv"),
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return p, err
	}
	caKey, err := newKey()
	if err != nil {
		return p, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "kubelab-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("ca certificate: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := newKey()
	if err != nil {
		return p, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: append([]net.IP{net.ParseIP("10.96.0.1")}, ips...),
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("serving certificate: %w", err)
	}
	saKey, err := newKey()
	if err != nil {
		return p, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return p, err
	}
	var tokens strings.Builder
	for i := range users {
		users[i].Token = randomHex(16)
		fmt.Fprintf(&tokens, "%s,%s,%s,%q\n", users[i].Token, users[i].Name, users[i].Name, strings.Join(users[i].Groups, ","))
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{p.CACert, pemBlock("CERTIFICATE", caDER)},
		{p.CAKey, ecPEM(caKey)},
		{p.ServerCert, pemBlock("CERTIFICATE", srvDER)},
		{p.ServerKey, ecPEM(srvKey)},
		{p.SAKey, ecPEM(saKey)},
		{p.SAPub, pemBlock("PUBLIC KEY", saPub)},
		{p.Tokens, []byte(tokens.String())},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return p, err
		}
	}
	p.KubeletClientCert, p.KubeletClientKey, err = p.Issue(d, "apiserver-kubelet-client", KubeletClientUser)
	return p, err
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func ecPEM(k *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalECPrivateKey(k) // cannot fail for a P-256 key
	return pemBlock("EC PRIVATE KEY", der)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
