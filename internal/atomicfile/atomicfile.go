// Package atomicfile writes files so that a reader, or the next writer
// after a crashed process, sees either the old or the new content.
package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts every temporary file; readers of a directory skip
// such names (IsTemp).
const TempPrefix = ".tmp-"

// Write replaces dir/name with data so that a reader, or the next
// writer after a crashed process, sees either the old or the new version:
// write a temporary file in the same directory (rename is only atomic within
// a file system) and rename it over the target.
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
