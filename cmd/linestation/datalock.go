package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/linestation/linestation/station"
)

// dataLockName is the file in the central service's data folder that a
// running serve, or a restore into the folder, holds locked: two services
// on one store would both act as its serial authority, and a restore under
// a running service would lose what it writes afterwards. The operating
// system drops the lock when the process ends, however it ends.
const dataLockName = "serve.lock"

// restoreHolder is what a restore into the folder writes into the lock.
const restoreHolder = "linestation restore --central"

// dataLock is a held data-folder lock.
type dataLock struct{ f *os.File }

// checkNoRestore refuses (ECONFLICT) when a restore is replacing the store
// in dir: what an admin command wrote now would be lost. A running serve
// is no reason to refuse: admin commands work beside it. It only reads the
// lock file (taking the lock, even for a moment, could keep a serve that
// starts then from starting): a restore writes itself and its pid there,
// and a restore that was killed is told apart by its pid being gone.
func checkNoRestore(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, dataLockName))
	if err != nil {
		return nil // never locked: no restore either
	}
	holder := strings.TrimSpace(string(b))
	if !strings.HasPrefix(holder, restoreHolder) {
		return nil
	}
	var pid int
	if i := strings.LastIndex(holder, "(pid "); i >= 0 {
		pid, _ = strconv.Atoi(strings.TrimSuffix(holder[i+len("(pid "):], ")"))
	}
	if pid <= 0 || !processAlive(pid) {
		return nil
	}
	return station.Errorf(station.ECONFLICT, "data folder %s is being restored (%s): wait until the restore is done", dir, holder)
}

// lockData takes dir's lock for what (e.g. "linestation serve"), and
// refuses with ECONFLICT, naming the holder, when another process has it.
func lockData(dir, what string) (*dataLock, error) {
	path := filepath.Join(dir, dataLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open the data folder's lock %s: %w", path, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !held {
		b, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "another process"
		}
		return nil, station.Errorf(station.ECONFLICT, "data folder %s is in use by %s, which holds its %s: stop that first", dir, holder, dataLockName)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%s (pid %d)\n", what, os.Getpid())), 0)
	}
	return &dataLock{f: f}, nil
}

// release gives the lock up. The file stays, so that its lock is on one file.
func (l *dataLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = unlock(l.f)
	l.f.Close()
	l.f = nil
}
