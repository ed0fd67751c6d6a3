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
)

// remembered reads the addresses Config.Remember holds (none if it has
// none yet, or cannot be read: a cache, not the truth).
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
	var addrs []string
	if err := json.Unmarshal(b, &addrs); err != nil {
		d.log.Warn("remembered members not read", "file", d.c.Remember, "err", err)
		return nil
	}
	return addrs
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
	if err := writeAtomic(d.c.Remember, addrs); err != nil {
		d.log.Warn("members not remembered", "file", d.c.Remember, "err", err)
		return last
	}
	return addrs
}

func writeAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Dir(path), filepath.Base(path), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("remember members: %w", err)
	}
	return nil
}
