package members

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// LoadKeys reads the gossip keyring of discovery.secretKeyFile.
//
// The format is Consul's and Serf's key encoding (`consul keygen`,
// `openssl rand -base64 32`), one key per line: standard base64 of 16, 24
// or 32 random bytes (AES-128, -192, -256). Blank lines and lines starting
// with '#' are ignored. The first key encrypts; every key decrypts. To
// rotate: add the new key as a second line on every host (and restart
// the agents), then move it first everywhere, then drop the old one.
//
// The file must not be readable by others (mode & 0o004): the key is what
// keeps a stranger from joining the cluster and announcing itself as a BGP
// peer. Every error names the file and the line.
func LoadKeys(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("gossip key file %s: missing: %w", path, err)
		}
		return nil, fmt.Errorf("gossip key file %s: unreadable: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gossip key file %s: unreadable: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("gossip key file %s: unreadable: a directory", path)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("gossip key file %s: world-readable (mode %04o): chmod o-r it, and change the key if others could read it",
			path, st.Mode().Perm())
	}
	var keys [][]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("gossip key file %s: line %d: not base64: %w", path, line, err)
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("gossip key file %s: line %d: key is %d bytes, want 16, 24 or 32 (AES-128, -192, -256)", path, line, n)
		}
		if slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }) {
			return nil, fmt.Errorf("gossip key file %s: line %d: the same key twice", path, line)
		}
		keys = append(keys, key)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gossip key file %s: unreadable: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip key file %s: no key (one base64 key per line, e.g. from `openssl rand -base64 32`)", path)
	}
	return keys, nil
}
