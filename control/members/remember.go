package members

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/hashicorp/memberlist"
	"github.com/vxbgp/vxbgp/internal/atomicfile"
	"github.com/vxbgp/vxbgp/internal/stateformat"
)

// rememberVersion is the format version of the Remember file this
// release writes and the newest it reads (internal/stateformat).
const rememberVersion = 1

// rememberDoc is the Remember file. The first release wrote a bare array
// of addresses, which is version 1 without the key.
type rememberDoc struct {
	Version int      `json:"version"`
	Members []string `json:"members"`
}

// remembered reads the addresses Config.Remember holds (none if it has
// none yet, or cannot be read: a cache, not the truth). A file in a newer
// format is not read either, with a warning: the seeds still work.
func (d *Discovery) remembered() []string {
	if d.c.Remember == "" {
		return nil
	}
	b, err := os.ReadFile(d.c.Remember)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("remembered members not read", "file", d.c.Remember, "err", err)
		}
		return nil
	}
	addrs, err := decodeRemembered(d.c.Remember, b)
	if err != nil {
		d.log.Warn("remembered members not read; joining the seeds only", "file", d.c.Remember, "err", err)
		return nil
	}
	return addrs
}

// decodeRemembered decodes the file at path, b, in either format.
func decodeRemembered(path string, b []byte) ([]string, error) {
	var addrs []string
	if json.Unmarshal(b, &addrs) == nil {
		return addrs, nil
	}
	var doc rememberDoc
	err := json.Unmarshal(b, &doc)
	if verr := stateformat.Check(path, doc.Version, rememberVersion); verr != nil {
		return nil, verr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Members, nil
}

// remember writes the gossip addresses of the members memberlist counts
// alive, other than this host, to Config.Remember when they changed since
// last. The file is replaced whole (a temporary file renamed), so a crash
// leaves the old list or the new one.
func (d *Discovery) remember(ml *memberlist.Memberlist, last []string) []string {
	var addrs []string
	for _, n := range ml.Members() {
		if n.Name != d.c.Self.Name {
			addrs = append(addrs, net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))))
		}
	}
	slices.Sort(addrs)
	if slices.Equal(addrs, last) {
		return last
	}
	if err := writeRemembered(d.c.Remember, addrs); err != nil {
		d.log.Warn("members not remembered", "file", d.c.Remember, "err", err)
		return last
	}
	return addrs
}

// writeRemembered replaces the file at path with addrs, in this
// release's format.
func writeRemembered(path string, addrs []string) error {
	b, err := json.Marshal(rememberDoc{Version: rememberVersion, Members: addrs})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Dir(path), filepath.Base(path), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("remember members: %w", err)
	}
	return nil
}
