package ipam

import (
	"os"
	"path/filepath"

	"github.com/vxbgp/vxbgp/internal/atomicfile"
)

// tempPrefix starts every temporary file; readers skip such names.
const tempPrefix = atomicfile.TempPrefix

// writeFileAtomic replaces dir/name with data (atomicfile.Write). There is
// no fsync: the records describe pods, and no pod survives the power loss
// or kernel crash that an fsync would guard against. After one, the
// runtime re-creates every pod with a fresh ADD, CNI GC drops the records
// of the dead ones, and a record torn by the crash is skipped by readers
// (invalid JSON) and collected the same way. host-local makes the same
// choice.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(dir, name, data, perm)
}

// removeFile deletes dir/name; a file already gone is not an error.
func removeFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// isTemp reports whether a directory entry is a (possibly torn) temporary file.
func isTemp(name string) bool { return atomicfile.IsTemp(name) }
