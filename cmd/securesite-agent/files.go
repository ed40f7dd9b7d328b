package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/smexport/certdoc"
)

func (cfg Config) validate() error {
	switch {
	case cfg.SecretID == "":
		return &UsageError{"--secret-id is required (the name or ARN in spec.certificate.export.secretsManager)"}
	case cfg.CertFile == "" || cfg.KeyFile == "":
		return &UsageError{"--cert-file and --key-file must not be empty"}
	case filepath.Clean(cfg.CertFile) == filepath.Clean(cfg.KeyFile):
		return &UsageError{"--cert-file and --key-file name the same file"}
	case cfg.CertMode&^fs.ModePerm != 0 || cfg.KeyMode&^fs.ModePerm != 0:
		return &UsageError{fmt.Sprintf("--cert-mode %04o / --key-mode %04o: only permission bits (0000-0777) are allowed", uint32(cfg.CertMode), uint32(cfg.KeyMode))}
	case cfg.KeyMode&0o007 != 0:
		// The seed's by-hand fix was chmod 777 on the key: anyone on the box could then
		// impersonate the site. Group access is the way to let the app user read it.
		return &UsageError{fmt.Sprintf("--key-mode %04o gives other users access to the private key; use 0640 with --group set to the app's group (or 0600 with --owner)", uint32(cfg.KeyMode))}
	}
	return nil
}

// ownership is who the files belong to; -1 leaves that id as the running user's.
type ownership struct{ uid, gid int }

func resolveOwnership(owner, group string) (ownership, error) {
	uid, err := lookupID("--owner", owner, userID)
	if err != nil {
		return ownership{uid: -1, gid: -1}, err
	}
	gid, err := lookupID("--group", group, groupID)
	if err != nil {
		return ownership{uid: uid, gid: -1}, err
	}
	return ownership{uid: uid, gid: gid}, nil
}

// lookupID turns the value of flag (a number, or a name that byName resolves) into an id; -1
// when the flag is empty.
func lookupID(flag, s string, byName func(string) (string, error)) (int, error) {
	if s == "" {
		return -1, nil
	}
	id, err := parseID(s, byName)
	if err != nil {
		return -1, &UsageError{fmt.Sprintf("%s %s: %v", flag, s, err)}
	}
	return id, nil
}

func parseID(s string, byName func(string) (string, error)) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, errors.New("negative id")
		}
		return n, nil
	}
	idStr, err := byName(s)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(idStr)
}

func userID(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", err
	}
	return u.Uid, nil
}

func groupID(name string) (string, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return "", err
	}
	return g.Gid, nil
}

type desiredFile struct {
	path  string
	data  []byte
	mode  os.FileMode
	owner ownership
}

// installedSerial is the serial of the first certificate in the file, or "" when there is none.
func installedSerial(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	cs, err := certs.ParseCertificates(data)
	if err != nil {
		return ""
	}
	return certdoc.SerialHex(cs[0])
}

func sameContent(path string, want []byte) bool {
	got, err := os.ReadFile(path)
	return err == nil && bytes.Equal(got, want)
}

// install stages every file before renaming any, so that a failure (full disk, wrong directory,
// chown refused) leaves all the old files in place.
func install(files []desiredFile) error {
	staged := make([]string, 0, len(files))
	renamed := 0
	defer func() {
		for _, tmp := range staged[renamed:] {
			_ = os.Remove(tmp)
		}
	}()
	for _, f := range files {
		tmp, err := f.stage()
		if err != nil {
			return err
		}
		staged = append(staged, tmp)
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(staged[i], f.path); err != nil {
			return fmt.Errorf("replacing %s: %w", f.path, err)
		}
		renamed++
		dirs[filepath.Dir(f.path)] = true
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("files replaced but syncing directory %s failed: %w", dir, err)
		}
	}
	return nil
}

// stage writes the content to a new file next to the target, already carrying its final mode
// and owner, so that no instant exists in which the key is readable by the wrong user.
func (f desiredFile) stage() (string, error) {
	dir := filepath.Dir(f.path)
	if st, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("cannot write %s: directory %s: %w", f.path, dir, unwrapPath(err))
	} else if !st.IsDir() {
		return "", fmt.Errorf("cannot write %s: %s is not a directory", f.path, dir)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	tmp := filepath.Join(dir, "."+filepath.Base(f.path)+".securesite-"+hex.EncodeToString(suffix))
	// O_EXCL: never write through a file or symlink someone placed at the temporary name.
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
	if err != nil {
		return "", fmt.Errorf("cannot write %s: creating a file in %s: %w", f.path, dir, unwrapPath(err))
	}
	fail := func(step string, err error) (string, error) {
		_ = fh.Close()
		_ = os.Remove(tmp)
		return "", fmt.Errorf("cannot write %s: %s: %w", f.path, step, unwrapPath(err))
	}
	// The umask may have removed bits from the mode asked for at creation; set it exactly.
	if err := fh.Chmod(f.mode); err != nil {
		return fail("setting mode", err)
	}
	if f.owner.uid != -1 || f.owner.gid != -1 {
		if err := fh.Chown(f.owner.uid, f.owner.gid); err != nil {
			return fail(fmt.Sprintf("setting owner %d:%d", f.owner.uid, f.owner.gid), err)
		}
	}
	if _, err := fh.Write(f.data); err != nil {
		return fail("writing", err)
	}
	if err := fh.Sync(); err != nil {
		return fail("syncing", err)
	}
	if err := fh.Close(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("cannot write %s: closing: %w", f.path, err)
	}
	return tmp, nil
}

// repairMetadata puts the mode and owner back on an up-to-date file; it reports whether it did.
func (f desiredFile) repairMetadata() (bool, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", f.path, err)
	}
	repaired := false
	if st.Mode().Perm() != f.mode {
		if err := os.Chmod(f.path, f.mode); err != nil {
			return false, fmt.Errorf("setting mode %04o on %s: %w", uint32(f.mode), f.path, unwrapPath(err))
		}
		repaired = true
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		uid, gid := -1, -1
		if f.owner.uid != -1 && int(sys.Uid) != f.owner.uid {
			uid = f.owner.uid
		}
		if f.owner.gid != -1 && int(sys.Gid) != f.owner.gid {
			gid = f.owner.gid
		}
		if uid != -1 || gid != -1 {
			if err := os.Chown(f.path, uid, gid); err != nil {
				return false, fmt.Errorf("setting owner on %s: %w", f.path, unwrapPath(err))
			}
			repaired = true
		}
	}
	return repaired, nil
}

// syncDir makes the renames durable: without it a power cut can bring back the old directory
// entry (or an empty file) on ext4/xfs.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// unwrapPath drops the *PathError wrapper whose path the caller's message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
