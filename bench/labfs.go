package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// Where the labs keep their files: the hosts' state directories (the
// IPAM records every pod and every bulk endpoint writes), logs, FRR's
// files. On an ext4 without a journal the kernel will not hand out an
// inode freed in the last minute, five while its inode table block is
// dirty (fs/ext4/ialloc.c, find_inode_bit: check_recently_deleted when
// s_journal is NULL), so every new file scans past the ones just removed.
// The bulk row removes its previous 10,000 records before each sample:
// on such a file system the next 10,000 took 52–65 % of both cores, and
// the row measured its own previous sample (on this VM's root, 5.8–6.2 s
// against 1.6–1.8 s on a journaled ext4 and 1.3–1.4 s on tmpfs, the same
// code and FRR within 0.50–0.59 s each time). A host's /var/lib is a
// journaled file system (mkfs.ext4's default, xfs), so when the lab root
// is on an ext4 without a journal, the bench runs its labs on a journaled
// ext4 of its own: a file under the lab root, loop-mounted, removed at
// the end. VXBGP_LAB_ROOT set by hand is used as it is.

// labFSSize is the journaled file system's size: the fleet's 50 agents'
// logs and the bulk row's records fit many times over. Sparse: only what
// is written takes space.
const labFSSize = 4 << 30

// labFSPrefix names the mount point and image, with the bench's PID.
const labFSPrefix = "vxbgp-fs-"

// labFS is the labs' root when the bench made one.
type labFS struct {
	dir, image string
}

// prepareLabFS returns the root the labs should use ("" for the default)
// and a note for the report; close unmounts and removes what it made.
func prepareLabFS(ctx context.Context, logf func(string, ...any)) (root, note string, closeFS func(), err error) {
	noop := func() {}
	if os.Getenv("VXBGP_LAB_ROOT") != "" {
		return "", "", noop, nil
	}
	base := filepath.Dir(lab.DefaultRoot())
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", "", noop, err
	}
	bad, dev, err := noJournal(base)
	if err != nil || !bad {
		return "", "", noop, err
	}
	removeStaleLabFS(base, logf)
	fs := &labFS{dir: filepath.Join(base, fmt.Sprintf("%s%d", labFSPrefix, os.Getpid()))}
	fs.image = fs.dir + ".img"
	if err := fs.make(ctx); err != nil {
		fs.close(logf)
		return "", "", noop, fmt.Errorf("journaled ext4 for the labs (%s is an ext4 without a journal): %w", base, err)
	}
	note = fmt.Sprintf("labs: %s (%s) is an ext4 without a journal, so the labs ran on a journaled ext4 the bench made (%s, loop-mounted at %s; see bench/README.md \"Where the labs keep their files\")",
		base, dev, fs.image, fs.dir)
	return fs.dir, note, func() { fs.close(logf) }, nil
}

func (fs *labFS) make(ctx context.Context) error {
	f, err := os.OpenFile(fs.image, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(labFSSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Initialised at once: with lazy init a kernel thread would zero the
	// inode tables in the background while the bench measures.
	if _, err := lab.RunEnv(ctx, nil, nil, "mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", fs.image); err != nil {
		return err
	}
	if err := os.Mkdir(fs.dir, 0o755); err != nil {
		return err
	}
	// A loop device set up by mount goes when it is unmounted
	// (autoclear).
	if _, err := lab.RunEnv(ctx, nil, nil, "mount", "-o", "loop,noatime", fs.image, fs.dir); err != nil {
		return err
	}
	// FRR drops to user frr and must traverse the root.
	return os.Chmod(fs.dir, 0o755)
}

// close unmounts and removes the file system; errors are only logged,
// and a busy mount is detached (it goes once nothing holds it).
func (fs *labFS) close(logf func(string, ...any)) {
	if err := unix.Unmount(fs.dir, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		logf("unmount %s: %v; detaching it", fs.dir, err)
		if err := unix.Unmount(fs.dir, unix.MNT_DETACH); err != nil {
			logf("detach %s: %v", fs.dir, err)
		}
	}
	for _, p := range []string{fs.dir, fs.image} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			logf("remove %s: %v", p, err)
		}
	}
}

// removeStaleLabFS removes what a bench that died left: mount points and
// images under base whose PID no longer runs.
func removeStaleLabFS(base string, logf func(string, ...any)) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), labFSPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(rest)
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) == nil {
			continue
		}
		logf("removing a dead bench's lab file system %s", e.Name())
		(&labFS{dir: filepath.Join(base, e.Name()), image: filepath.Join(base, e.Name()) + ".img"}).close(logf)
	}
}

// noJournal reports whether dir is on an ext4 without a journal, and its
// device.
func noJournal(dir string) (bool, string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, "", fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		return false, "", nil
	}
	dev, err := mountSource(dir)
	if err != nil {
		return false, "", err
	}
	// jbd2 lists each journal as <device>-<journal inode>.
	ents, err := os.ReadDir("/proc/fs/jbd2")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, "", err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), filepath.Base(dev)+"-") {
			return false, dev, nil
		}
	}
	return true, dev, nil
}

// mountSource is the source (device) of the mount holding dir: the
// longest mount point in /proc/self/mountinfo that contains it.
func mountSource(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return mountSourceIn(f, abs)
}

// mountSourceIn is mountSource over a mountinfo file's contents, for an
// absolute path without symlinks.
func mountSourceIn(r io.Reader, abs string) (string, error) {
	best, src := "", ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fp, fs := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fp) < 5 || len(fs) < 2 {
			continue
		}
		mp := fp[4]
		if (mp == "/" || abs == mp || strings.HasPrefix(abs, mp+"/")) && len(mp) >= len(best) {
			best, src = mp, fs[1]
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if src == "" {
		return "", fmt.Errorf("no mount holds %s", abs)
	}
	return src, nil
}

// labFSTimeout bounds making the file system.
const labFSTimeout = time.Minute
