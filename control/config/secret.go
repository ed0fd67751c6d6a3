package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxPasswordLen is the longest TCP MD5 key Linux takes
// (TCP_MD5SIG_MAXKEYLEN): GoBGP would only log a warning for a longer one
// and the session would silently never come up.
const MaxPasswordLen = 80

// password checks a peer's password keys; the file's content is read when
// the agent starts (ReadSecrets): --check may run on another machine.
// No message ever quotes a password.
func (p *problems) password(path string, peer Peer) {
	if peer.PasswordFile == "" {
		if n := len(peer.Password); n > MaxPasswordLen {
			p.add(path+".password", "is %d bytes long, more than TCP MD5 allows (%d)", n, MaxPasswordLen)
		}
		return
	}
	if peer.Password != "" {
		p.add(path+".passwordFile", "must not be set together with %s.password: keep the password in the file only", path)
		return
	}
	if p.absPath(path+".passwordFile", peer.PasswordFile) && strings.HasSuffix(peer.PasswordFile, "/") {
		p.add(path+".passwordFile", "must name a file, not a directory, got %q", peer.PasswordFile)
	}
}

// ReadSecrets reads the secrets the config names by file: each
// bgp.peers[].passwordFile into the peer's Password. The agent calls it
// at start, after Validate. Every problem is a *FieldError naming the
// key, joined; no message quotes a password.
func (c *Config) ReadSecrets() error {
	var p problems
	for i := range c.BGP.Peers {
		peer := &c.BGP.Peers[i]
		if peer.PasswordFile == "" {
			continue
		}
		pw, err := readPasswordFile(peer.PasswordFile)
		if err != nil {
			p.add(fmt.Sprintf("bgp.peers[%d].passwordFile", i), "%v", err)
			continue
		}
		peer.Password = pw
	}
	return p.err()
}

// readPasswordFile reads a TCP MD5 password: the whole file but one
// trailing newline (echo and most editors add one; `kubectl create secret
// --from-file` keeps it). Like the gossip key file (members.LoadKeys) it
// must not be readable by others.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("password file %s: missing", path)
		}
		return "", fmt.Errorf("password file %s: unreadable: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("password file %s: unreadable: %w", path, err)
	}
	if st.IsDir() {
		return "", fmt.Errorf("password file %s: unreadable: a directory", path)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("password file %s: world-readable (mode %04o): chmod o-r it (a Kubernetes Secret: defaultMode 0400), and change the password if others could read it",
			path, st.Mode().Perm())
	}
	// One byte more than a valid password and its newlines tells "too
	// long" without reading a huge file.
	data, err := io.ReadAll(io.LimitReader(f, MaxPasswordLen+3))
	if err != nil {
		return "", fmt.Errorf("password file %s: unreadable: %w", path, err)
	}
	pw, ok := strings.CutSuffix(string(data), "\r\n")
	if !ok {
		pw = strings.TrimSuffix(pw, "\n")
	}
	switch {
	case pw == "":
		return "", fmt.Errorf("password file %s: empty", path)
	case len(pw) > MaxPasswordLen:
		return "", fmt.Errorf("password file %s: longer than TCP MD5 allows (%d bytes)", path, MaxPasswordLen)
	case strings.ContainsAny(pw, "\n\x00"):
		return "", fmt.Errorf("password file %s: more than one line (or a NUL byte): the password is the whole file but a trailing newline", path)
	}
	return pw, nil
}

// String describes the peer without its password, so that printing a
// Peer (%v, %+v, slog) never shows it.
func (p Peer) String() string {
	md5 := "none"
	switch {
	case p.PasswordFile != "":
		md5 = "from " + p.PasswordFile
	case p.Password != "":
		md5 = "(set)"
	}
	return fmt.Sprintf("{address %s asn %d port %d md5 %s}", p.Address, p.ASN, p.Port, md5)
}
