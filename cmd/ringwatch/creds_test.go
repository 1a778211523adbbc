package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringwatch/ringwatch/bus"
)

// The tests' credentials: real nkeys, bcrypt hashes and certificates, made
// as a user makes them, in the test's folder.

// nkeyFor makes an nkey; it returns the seed file and the public key.
func nkeyFor(t *testing.T, dir, name string) (seedFile, public string) {
	t.Helper()
	seed, public, err := bus.NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	seedFile = filepath.Join(dir, name+".nk")
	if err := os.WriteFile(seedFile, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, public
}

// hubConfig writes a hub's config file holding the given YAML.
func hubConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// agentEntry and readerEntry are config entries for an nkey.
func agentEntry(host, public string) string {
	return fmt.Sprintf("  - host: %s\n    nkey: %s\n", host, public)
}

func readerEntry(name, public string) string {
	return fmt.Sprintf("  - name: %s\n    nkey: %s\n", name, public)
}

// testPKI is a CA and, signed by it, a server certificate for 127.0.0.1
// and a client certificate, as PEM files.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyPEM := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "EC PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ringwatch test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "ringwatch test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cDER, cKey := leaf(3, x509.ExtKeyUsageClientAuth)
	return testPKI{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", sDER), serverKey: keyPEM("server-key.pem", sKey),
		clientCert: write("client.pem", "CERTIFICATE", cDER), clientKey: keyPEM("client-key.pem", cKey),
	}
}

// hostsOf lists the hosts /api/v1/hosts answers.
func hostsOf(t *testing.T, base string) []string {
	t.Helper()
	code, body := httpGet(t, base+"/api/v1/hosts")
	var hosts []struct {
		Name string `json:"name"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &hosts) != nil {
		return nil
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return names
}
