package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/internal/stateformat"
	"github.com/vxbgp/vxbgp/overlay"
)

// Errors callers match with errors.Is.
var (
	// ErrExhausted: the block has no free address left.
	ErrExhausted = errors.New("address block exhausted")
	// ErrNotFound: no allocation for that container and interface.
	ErrNotFound = errors.New("allocation not found")
)

// Record is the allocation of one pod interface: the files
// ipam/<network>/<ip>, one for each of its addresses (json.go has their
// format). MAC, HostIf and Netns are empty until the plugin has created
// the veth.
type Record struct {
	ContainerID string
	IfName      string
	CNINetwork  string // the CNI config's "name"; GC goes by it
	Network     string
	// IPs are the interface's addresses: one from each block of the
	// network (Allocate), or those another plugin gave it (Claim). The
	// store keeps them sorted, so IPv4 comes first.
	IPs    []netip.Addr
	MAC    overlay.MAC // pod interface MAC
	HostIf string      // host side of the veth
	Netns  string      // path of the pod's netns
	// Chained: another plugin made the interface and address (vxbgp-cni
	// ran with "chained": true); HostIf is that plugin's, not ours to delete.
	Chained bool
	Created time.Time
}

// Endpoint returns the record as the endpoint it describes.
func (r Record) Endpoint() endpoint.Endpoint {
	return endpoint.Endpoint{
		ContainerID: r.ContainerID,
		IfName:      r.IfName,
		Network:     r.Network,
		HostIf:      r.HostIf,
		MAC:         r.MAC,
		IPs:         slices.Clone(r.IPs),
		Netns:       r.Netns,
		Chained:     r.Chained,
	}
}

// Store is the allocation store under one state directory. It holds no
// state in memory: every call reads the files under the lock, so any number
// of Stores in any number of processes share it safely.
type Store struct {
	dir string // <stateDir>/ipam
}

const (
	lockName         = ".lock" // a dot: no network can be named like it
	lastReservedName = "last_reserved"
	// lastReserved6Name is the IPv6 round-robin position of a network.
	lastReserved6Name = "last_reserved6"
	dirPerm           = 0o755
	filePerm          = 0o644
)

// Open creates <stateDir>/ipam if needed and returns the store in it.
func Open(stateDir string) (*Store, error) {
	if stateDir == "" {
		return nil, errors.New("open ipam store: empty state directory")
	}
	dir := filepath.Join(stateDir, "ipam")
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("open ipam store %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Dir returns <stateDir>/ipam.
func (s *Store) Dir() string { return s.dir }

// withLock runs f holding the store's flock: how is unix.LOCK_EX for
// read-modify-write, unix.LOCK_SH for reads. The lock file is opened per
// call because flock belongs to the open file description: two goroutines
// sharing one descriptor would not exclude each other.
func (s *Store) withLock(how int, f func() error) error {
	path := filepath.Join(s.dir, lockName)
	lf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return fmt.Errorf("open lock %s: %w", path, err)
	}
	defer lf.Close() // closing releases the lock
	for {
		err = unix.Flock(int(lf.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("flock %s: %w", path, err)
	}
	return f()
}

// Get returns the allocation of containerID's interface ifName.
func (s *Store) Get(containerID, ifName string) (Record, bool, error) {
	var rec Record
	var found bool
	err := s.withLock(unix.LOCK_SH, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		rec, found = find(all, containerID, ifName)
		return nil
	})
	return rec, found, err
}

// List returns every allocation, one per pod interface, sorted by network
// and first address.
func (s *Store) List() ([]Record, error) {
	var all []Record
	err := s.withLock(unix.LOCK_SH, func() error {
		var err error
		all, err = s.readAll()
		return err
	})
	return all, err
}

// Endpoints returns the allocations whose veth exists (they have a MAC), as
// the agent announces them: one per pod interface, with all its addresses. An allocation without a MAC is an ADD still in
// progress, or one that crashed before finishing: nothing to announce yet.
func (s *Store) Endpoints() ([]endpoint.Endpoint, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	eps := make([]endpoint.Endpoint, 0, len(all))
	for _, r := range all {
		if !r.MAC.IsZero() {
			eps = append(eps, r.Endpoint())
		}
	}
	return eps, nil
}

// readAll reads every record of every network, sorted by network and
// address; the caller holds the lock. The records of one interface in one
// network are merged into one: a chained interface with several addresses
// of one family is stored as a record per address.
func (s *Store) readAll() ([]Record, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read ipam store %s: %w", s.dir, err)
	}
	var all []Record
	for _, e := range entries {
		if !e.IsDir() || !ValidNetworkName(e.Name()) {
			continue
		}
		recs, err := s.readNetwork(e.Name())
		if err != nil {
			return nil, err
		}
		all = append(all, merge(recs)...)
	}
	slices.SortFunc(all, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Network, b.Network), a.IPs[0].Compare(b.IPs[0]))
	})
	return all, nil
}

// merge joins the records of one network that belong to the same
// interface, keeping the first one's other fields.
func merge(recs []Record) []Record {
	out := make([]Record, 0, len(recs))
	at := make(map[endpoint.Key]int, len(recs))
	for _, r := range recs {
		k := endpoint.Key{ContainerID: r.ContainerID, IfName: r.IfName}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, r)
			continue
		}
		out[i].IPs = append(out[i].IPs, r.IPs...)
	}
	for i := range out {
		// Compact: an address named by two records (a crash in the middle
		// of Claim replacing a pair) is still one address.
		slices.SortFunc(out[i].IPs, netip.Addr.Compare)
		out[i].IPs = slices.Compact(out[i].IPs)
	}
	return out
}

// readNetwork reads the records of one network. Files whose name is not an
// address (last_reserved, temporary files) are not records. A record that
// does not decode can only come from outside tampering, since writes are
// atomic; it is left out here but still holds its address (Allocate goes
// by file names), so it can never be handed out twice. A record in a
// newer format fails the read (a *stateformat.NewerError naming the
// file): this release cannot tell what it would get wrong about it.
func (s *Store) readNetwork(network string) ([]Record, error) {
	dir := filepath.Join(s.dir, network)
	d, err := os.Open(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read network %s in %s: %w", network, s.dir, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("read network %s in %s: %w", network, s.dir, err)
	}
	// The files are opened relative to the directory and read into one
	// buffer: a full node's store is read every resync, and twice per ADD.
	dfd := int(d.Fd())
	var buf []byte
	var recs []Record
	for _, e := range entries {
		ip, ok := recordIP(e)
		if !ok {
			continue
		}
		b, err := readAt(dfd, e.Name(), buf[:0])
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, fmt.Errorf("read record %s: %w", filepath.Join(dir, e.Name()), err)
		}
		buf = b
		var r Record
		// Not json.Unmarshal: it would check the whole syntax once more
		// before calling this, which checks it itself.
		err = r.UnmarshalJSON(b)
		if ne := (*stateformat.NewerError)(nil); errors.As(err, &ne) {
			ne.File = filepath.Join(dir, e.Name())
			return nil, ne
		}
		if err != nil || len(r.IPs) == 0 || r.IPs[0] != ip {
			continue // unreadable, or the copy that holds a dual-stack record's IPv6 address
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// readAt reads the file name in the directory dfd, appending to buf.
func readAt(dfd int, name string, buf []byte) ([]byte, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return buf, err
	}
	defer unix.Close(fd)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 4096)
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return buf, err
		}
		room := cap(buf) - len(buf)
		buf = buf[:len(buf)+n]
		// A regular file reads short only at its end: no read to see 0.
		if n < room {
			return buf, nil
		}
	}
}

// recordIP parses a directory entry's name as a record's address.
func recordIP(e os.DirEntry) (netip.Addr, bool) {
	if !e.Type().IsRegular() || isTemp(e.Name()) {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(e.Name())
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip, true
}

func find(all []Record, containerID, ifName string) (Record, bool) {
	for _, r := range all {
		if r.ContainerID == containerID && r.IfName == ifName {
			return r, true
		}
	}
	return Record{}, false
}

// ValidNetworkName reports whether name can name a network: it becomes a
// directory name, so letters, digits, '_', '.', '-', no leading dot or
// dash, at most 63 characters.
func ValidNetworkName(name string) bool {
	if name == "" || len(name) > 63 {
		return false
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
