// Package atomicfile writes files so that a reader, or the next writer
// after a crashed process, sees either the old or the new content.
package atomicfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TempPrefix starts every temporary file; readers of a directory skip
// such names (IsTemp).
const TempPrefix = ".tmp-"

// Write replaces dir/name with data so that a reader, or the next
// writer after a crashed process, sees either the old or the new version.
//
// The data goes to an unnamed file (O_TMPFILE) in dir, which is then
// linked in as dir/name when that name is free: the file appears whole,
// in one directory operation, and a crash before the link leaves nothing
// behind. Replacing an existing name links the unnamed file under a
// temporary name and renames that over the target (rename is atomic
// within a file system). A file system without O_TMPFILE gets the classic
// way: a named temporary file, renamed. Creating a new file, the common
// case (every IPAM record starts so), costs about half the classic way on
// ext4 and tmpfs: 10,000 files by 8 writers in 0.18-0.24 s instead of
// 0.50-0.65 s on ext4, 0.09-0.11 s instead of 0.23-0.25 s on tmpfs.
//
// There is no fsync (it cost 0.6 ms per file here): a process crash loses
// nothing, since the page cache holds the write, and what is written
// through here (the address store's records, the agent's member cache) is
// rebuilt after the power loss or kernel crash that an fsync would guard
// against. See ipam's writeFileAtomic for the records.
//
// The errors of os already name the file and the operation, so they are
// returned as they are.
func Write(dir, name string, data []byte, perm os.FileMode) error {
	err := writeUnnamed(dir, name, data, perm)
	if errors.Is(err, errNoTmpfile) {
		return writeNamed(dir, name, data, perm)
	}
	return err
}

// errNoTmpfile: the file system (or a missing /proc) does not let us
// create and link an unnamed file.
var errNoTmpfile = errors.New("no O_TMPFILE")

// writeUnnamed is Write through an O_TMPFILE file.
func writeUnnamed(dir, name string, data []byte, perm os.FileMode) error {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		return errNoTmpfile
	case err != nil:
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	target := filepath.Join(dir, name)
	if err := writeAll(fd, data); err != nil {
		return &os.PathError{Op: "write", Path: target, Err: err}
	}
	// The mode O_TMPFILE took went through the umask.
	if err := unix.Fchmod(fd, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "chmod", Path: target, Err: err}
	}
	err = link(fd, target)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	for range 100 {
		tmp := filepath.Join(dir, TempPrefix+name+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := link(fd, tmp)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.Rename(tmp, target); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	return &os.LinkError{Op: "link", Old: "(unnamed file)", New: target, Err: unix.EEXIST}
}

// link gives the unnamed file fd the name path. Linking by descriptor
// (AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH, which the plugin and the
// agent have as root; without it the kernel answers ENOENT, and the link
// goes through /proc/self/fd. Without /proc, there is no way:
// errNoTmpfile.
func link(fd int, path string) error {
	err := unix.Linkat(fd, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		if errors.Is(err, unix.ENOENT) {
			if _, serr := os.Stat(filepath.Dir(path)); serr == nil {
				return errNoTmpfile
			}
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: "(unnamed file)", New: path, Err: err}
	}
	return nil
}

// writeAll writes data to fd, resuming after short writes.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("wrote 0 of %d bytes", len(data))
		}
		data = data[n:]
	}
	return nil
}

// writeNamed is Write through a named temporary file, renamed.
func writeNamed(dir, name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(dir, TempPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	success := false
	defer func() {
		if !success {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	success = true
	return nil
}

// IsTemp reports whether a directory entry is a (possibly torn) temporary
// file.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }
