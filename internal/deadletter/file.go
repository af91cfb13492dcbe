package deadletter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// File is a List in a local append-only file of JSON Lines (see record.go for the
// format), for the single-replica setup without Redis. Every change is one append,
// fsynced before Park or Delete returns, so a parked entry survives a crash.
//
// The file is created with mode 0600 (entries hold raw events). A line that does not
// decode — typically the torn last line of a crash — is skipped and reported through
// Damage; it never stops the file from opening, and the next append starts on a fresh
// line.
//
// Several processes may share the file (the server and `creditgate dlq drop`): each
// append is a single write to a file opened with O_APPEND, so records never interleave
// on a local filesystem (not NFS), and List, Get, Len and Delete re-read the file when
// its size has changed, so each process sees the other's changes. A check-then-append
// (Delete) is not atomic across processes. If the file is removed or replaced, File
// follows the path (and recreates it when missing). The file is never compacted: drops
// are kept as tombstones, which stay small next to the payloads they drop.
//
// Use OpenFile; the zero value is not usable.
type File struct {
	path string
	now  func() time.Time

	mu     sync.Mutex
	f      *os.File
	closed bool
	// What the last read found, valid while the file's size is cacheSize.
	cache     map[string]Entry
	cacheSize int64
	damage    Damage
}

var _ List = (*File)(nil)

// OpenFile opens the dead-letter file at path, creating it (mode 0600, not its
// directory) if missing, and reads it once. Damaged lines do not make it fail; see
// Damage.
func OpenFile(path string) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	l := &File{path: path, now: time.Now, f: f}
	if _, err := l.load(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return l, nil
}

// Path returns the file's path.
func (l *File) Path() string { return l.path }

// Damage reports the lines the last read of the file had to skip.
func (l *File) Damage() Damage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.damage
}

// Park implements List: it appends a park record and fsyncs.
func (l *File) Park(ctx context.Context, e Entry) error {
	e, err := prepare(e, l.now())
	if err != nil {
		return err
	}
	line, err := encodeRecord(change{Entry: e})
	if err != nil {
		return fmt.Errorf("deadletter: encoding %s: %w", e.ID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(ctx); err != nil {
		return err
	}
	return l.append(line)
}

// List implements List.
func (l *File) List(ctx context.Context) ([]Entry, error) {
	m, err := l.read(ctx)
	if err != nil {
		return nil, err
	}
	es := slices.Collect(maps.Values(m))
	sortEntries(es)
	return es, nil
}

// Get implements List.
func (l *File) Get(ctx context.Context, id string) (Entry, error) {
	m, err := l.read(ctx)
	if err != nil {
		return Entry{}, err
	}
	e, ok := m[id]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e, nil
}

// Delete implements List: it appends a drop record and fsyncs.
func (l *File) Delete(ctx context.Context, id string) error {
	line, err := encodeRecord(change{Drop: true, Entry: Entry{ID: id}})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(ctx); err != nil {
		return err
	}
	m, err := l.load()
	if err != nil {
		return err
	}
	if _, ok := m[id]; !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return l.append(line)
}

// Len implements List.
func (l *File) Len(ctx context.Context) (int, error) {
	m, err := l.read(ctx)
	return len(m), err
}

// Close closes the file; later calls fail with ErrUnavailable.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.cache = nil
	return l.f.Close()
}

// read returns the current entries. The map must not be modified.
func (l *File) read(ctx context.Context) (map[string]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(ctx); err != nil {
		return nil, err
	}
	return l.load()
}

// usable checks ctx and makes sure l.f is the file at l.path, reopening it when the
// file was removed or replaced. Caller holds mu.
func (l *File) usable(ctx context.Context) error {
	if l.closed {
		return fmt.Errorf("%w: %s is closed", ErrUnavailable, l.path)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	cur, err := l.f.Stat()
	if err != nil {
		return fileUnavailable(err)
	}
	onDisk, err := os.Stat(l.path)
	if err == nil && os.SameFile(cur, onDisk) {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileUnavailable(err)
	}
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	_ = l.f.Close()
	l.f, l.cache = f, nil
	return nil
}

// load returns the entries, re-reading the file if its size changed. Caller holds mu.
func (l *File) load() (map[string]Entry, error) {
	fi, err := l.f.Stat()
	if err != nil {
		return nil, fileUnavailable(err)
	}
	if l.cache != nil && fi.Size() == l.cacheSize {
		return l.cache, nil
	}
	data, err := io.ReadAll(io.NewSectionReader(l.f, 0, fi.Size()))
	if err != nil {
		return nil, fileUnavailable(err)
	}
	l.cache, l.damage = replay(data)
	l.cacheSize = int64(len(data))
	return l.cache, nil
}

// append writes one framed line in a single write and fsyncs. Caller holds mu.
func (l *File) append(line []byte) error {
	fi, err := l.f.Stat()
	if err != nil {
		return fileUnavailable(err)
	}
	var last [1]byte
	if fi.Size() > 0 {
		if _, err := l.f.ReadAt(last[:], fi.Size()-1); err != nil {
			return fileUnavailable(err)
		}
	}
	if _, err := l.f.Write(frame(fi.Size() > 0 && last[0] != '\n', line)); err != nil {
		return fileUnavailable(err)
	}
	if err := l.f.Sync(); err != nil {
		return fileUnavailable(err)
	}
	return nil
}

// openAppend opens path for appending and reading, creating it with mode 0600. A new
// file's directory is fsynced too, so that the file itself survives a crash.
func openAppend(path string) (*os.File, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fileUnavailable(err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		syncDir(filepath.Dir(path))
	}
	return f, nil
}

// syncDir fsyncs a directory, best effort: not every platform can.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// fileUnavailable wraps an *fs.PathError, which names the operation and the path.
func fileUnavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
