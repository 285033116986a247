package psmodule

import "os"

// On Windows the module directories are not locked, and so never removed: a directory's files
// cannot be removed while a worker has them loaded, and removing the others around them would
// break that worker; the locks have not been tried on Windows.

// holdDir reports whether dir exists (fs.ErrNotExist when not); it holds nothing.
func holdDir(dir string) (release func(), err error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// lockUnheld never locks on Windows: no directory is removed.
func lockUnheld(string) (unlock func(), ok bool) { return nil, false }
