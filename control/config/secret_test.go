package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canary is a password no message, log line or JSON answer may contain.
const canary = "vxbgp-canary-Pa55w0rd"

func TestValidateSecretsAndCNI(t *testing.T) {
	long := strings.Repeat("x", MaxPasswordLen+1)
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string // nil: valid
	}{
		{"password file", func(c *Config) { c.BGP.Peers[1].PasswordFile = "/etc/vxbgp/secrets/peer-1" }, nil},
		{"inline password", func(c *Config) { c.BGP.Peers[1].Password = canary }, nil},
		{"longest password", func(c *Config) { c.BGP.Peers[1].Password = long[1:] }, nil},
		{"both", func(c *Config) { c.BGP.Peers[1].Password, c.BGP.Peers[1].PasswordFile = canary, "/etc/vxbgp/secrets/p" },
			[]string{"bgp.peers[1].passwordFile: must not be set together with bgp.peers[1].password: keep the password in the file only"}},
		{"relative password file", func(c *Config) { c.BGP.Peers[0].PasswordFile = "secrets/p" },
			[]string{`bgp.peers[0].passwordFile: must be an absolute path, got "secrets/p"`}},
		{"password file a directory", func(c *Config) { c.BGP.Peers[0].PasswordFile = "/etc/vxbgp/secrets/" },
			[]string{`bgp.peers[0].passwordFile: must name a file, not a directory, got "/etc/vxbgp/secrets/"`}},
		{"password too long", func(c *Config) { c.BGP.Peers[0].Password = long },
			[]string{"bgp.peers[0].password: is 81 bytes long, more than TCP MD5 allows (80)"}},

		{"conflist", func(c *Config) {
			c.CNI = CNI{ConflistSource: "/config/10-vxbgp.conflist", ConflistDest: "/host/etc/cni/net.d/10-vxbgp.conflist"}
		}, nil},
		{"conflist source only", func(c *Config) { c.CNI.ConflistSource = "/config/10-vxbgp.conflist" },
			[]string{"cni.conflistDest: must be set with cni.conflistSource (/config/10-vxbgp.conflist): where to install it, e.g. /etc/cni/net.d/10-vxbgp.conflist"}},
		{"conflist dest only", func(c *Config) { c.CNI.ConflistDest = "/etc/cni/net.d/10-vxbgp.conflist" },
			[]string{"cni.conflistSource: must be set with cni.conflistDest (/etc/cni/net.d/10-vxbgp.conflist): the conflist to install there"}},
		{"conflist relative", func(c *Config) {
			c.CNI = CNI{ConflistSource: "10-vxbgp.conflist", ConflistDest: "/etc/cni/net.d/10-vxbgp.conflist"}
		},
			[]string{`cni.conflistSource: must be an absolute path, got "10-vxbgp.conflist"`}},
		{"conflist onto itself", func(c *Config) { c.CNI = CNI{ConflistSource: "/etc/cni/net.d/a", ConflistDest: "/etc/cni/net.d/./a"} },
			[]string{`cni.conflistDest: must differ from cni.conflistSource, got "/etc/cni/net.d/./a"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(c)
			var got []string
			for _, p := range Problems(c.Validate()) {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Validate:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if strings.Contains(strings.Join(got, "\n"), canary) {
				t.Error("a message quotes the password")
			}
		})
	}
}

func TestParsePasswordFileAndCNI(t *testing.T) {
	c, err := Parse([]byte(`bgp:
  peers:
    - {address: 10.0.0.254, asn: 64512, passwordFile: /etc/vxbgp/secrets/tor}
cni:
  conflistSource: /config/10-vxbgp.conflist
  conflistDest: /host/etc/cni/net.d/10-vxbgp.conflist
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BGP.Peers[0].PasswordFile; got != "/etc/vxbgp/secrets/tor" {
		t.Errorf("passwordFile = %q", got)
	}
	if c.CNI.ConflistSource != "/config/10-vxbgp.conflist" || c.CNI.ConflistDest != "/host/etc/cni/net.d/10-vxbgp.conflist" {
		t.Errorf("cni = %+v", c.CNI)
	}
}

// writeSecret writes content to a file of mode perm in a fresh directory.
func writeSecret(t *testing.T, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "peer-password")
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // umask
		t.Fatal(err)
	}
	return path
}

func TestReadSecrets(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		path    func(t *testing.T) string
		want    string // the password read
		wantErr string // substring of the error, after "bgp.peers[1].passwordFile: "
	}{
		{"trailing newline trimmed", func(t *testing.T) string { return writeSecret(t, canary+"\n", 0o600) }, canary, ""},
		{"CRLF trimmed", func(t *testing.T) string { return writeSecret(t, canary+"\r\n", 0o400) }, canary, ""},
		{"no newline", func(t *testing.T) string { return writeSecret(t, canary, 0o640) }, canary, ""},
		{"only one newline trimmed", func(t *testing.T) string { return writeSecret(t, canary+"\n\n", 0o600) }, "", "more than one line"},
		{"spaces kept", func(t *testing.T) string { return writeSecret(t, " "+canary+" \n", 0o600) }, " " + canary + " ", ""},
		{"longest", func(t *testing.T) string { return writeSecret(t, strings.Repeat("y", 80)+"\n", 0o600) }, strings.Repeat("y", 80), ""},
		{"too long", func(t *testing.T) string { return writeSecret(t, strings.Repeat("y", 81), 0o600) }, "", "longer than TCP MD5 allows (80 bytes)"},
		{"missing", func(t *testing.T) string { return filepath.Join(dir, "nope") }, "", "password file " + filepath.Join(dir, "nope") + ": missing"},
		{"empty", func(t *testing.T) string { return writeSecret(t, "", 0o600) }, "", ": empty"},
		{"only a newline", func(t *testing.T) string { return writeSecret(t, "\n", 0o600) }, "", ": empty"},
		{"world-readable", func(t *testing.T) string { return writeSecret(t, canary, 0o644) }, "", "world-readable (mode 0644): chmod o-r it"},
		{"a directory", func(t *testing.T) string { return t.TempDir() }, "", "unreadable: a directory"},
		{"unreadable", func(t *testing.T) string {
			d := t.TempDir()
			if err := os.Chmod(d, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d, 0o700) })
			if os.Geteuid() == 0 {
				t.Skip("root reads a directory of mode 0 anyway: the unreadable case needs a non-root user")
			}
			return filepath.Join(d, "p")
		}, "", "unreadable: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			c.BGP.Peers[1].PasswordFile = tc.path(t)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			err := c.ReadSecrets()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.BGP.Peers[1].Password != tc.want {
					t.Errorf("password = %q, want %q", c.BGP.Peers[1].Password, tc.want)
				}
				if c.BGP.Peers[0].Password != "" {
					t.Errorf("peer 0 got a password")
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "bgp.peers[1].passwordFile: password file ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ReadSecrets = %v, want bgp.peers[1].passwordFile: ...%s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}

// The config as JSON (what a dump or an API would show) names the file,
// never the password.
func TestPasswordNotInJSON(t *testing.T) {
	c := valid()
	c.BGP.Peers[0].Password = canary
	c.BGP.Peers[1].PasswordFile = writeSecret(t, canary+"\n", 0o600)
	if err := c.ReadSecrets(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), canary) || !strings.Contains(string(out), `"passwordFile":"`) {
		t.Errorf("config JSON: %s", out)
	}
}
