package ipam

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix starts every temporary file; readers skip such names.
const tempPrefix = ".tmp-"

// writeFileAtomic replaces dir/name with data so that after a crash the file
// is either the old or the new version: write a temporary file in the same
// directory (rename is only atomic within a file system), fsync it, rename
// it over the target, fsync the directory so the rename itself is durable.
//
// The errors of os already name the file and the operation, so they are
// returned as they are.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(dir, tempPrefix+name+"-*")
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
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	success = true
	return syncDir(dir)
}

// removeFile deletes dir/name durably; a file already gone is not an error.
func removeFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return syncDir(dir)
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// isTemp reports whether a directory entry is a (possibly torn) temporary file.
func isTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }
