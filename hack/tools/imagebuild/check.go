package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Report is what Check found: the digest of the index and, per platform,
// the manifest digest and the bytes a node pulls.
type Report struct {
	Digest    v1.Hash
	Platforms []PlatformReport
}

// PlatformReport describes one platform's image.
type PlatformReport struct {
	Platform string
	Digest   v1.Hash
	// Size is the compressed size of the manifest, config and layers:
	// what a node downloads. Uncompressed is the size of the layers unpacked.
	Size, Uncompressed int64
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "index %s\n", r.Digest)
	for _, p := range r.Platforms {
		fmt.Fprintf(&b, "  %-12s %s  %5.1f MB compressed, %5.1f MB unpacked\n", p.Platform, p.Digest, float64(p.Size)/1e6, float64(p.Uncompressed)/1e6)
	}
	return b.String()
}

// elfMachine is the ELF machine a platform's binaries must be built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// Check verifies that idx is the release image: exactly the platforms of
// Platforms; in each, both binaries as executable ELF files of the right
// machine, the user database naming UID, a numeric non-root user, no
// entrypoint but one of the binaries, and no shell.
func Check(idx v1.ImageIndex) (Report, error) {
	var r Report
	var err error
	if r.Digest, err = idx.Digest(); err != nil {
		return r, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return r, err
	}
	if mt != types.OCIImageIndex {
		return r, fmt.Errorf("index media type %q, want %q", mt, types.OCIImageIndex)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return r, err
	}
	var got, want []string
	for _, p := range Platforms {
		want = append(want, p.String())
	}
	for _, d := range m.Manifests {
		if d.Platform == nil {
			return r, fmt.Errorf("manifest %s has no platform", d.Digest)
		}
		got = append(got, d.Platform.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			return r, err
		}
		pr, err := checkImage(img, *d.Platform)
		if err != nil {
			return r, fmt.Errorf("%s: %w", d.Platform, err)
		}
		pr.Digest = d.Digest
		r.Platforms = append(r.Platforms, pr)
	}
	if !slices.Equal(got, want) {
		return r, fmt.Errorf("platforms %v, want %v", got, want)
	}
	return r, nil
}

func checkImage(img v1.Image, p v1.Platform) (PlatformReport, error) {
	pr := PlatformReport{Platform: p.String()}
	cf, err := img.ConfigFile()
	if err != nil {
		return pr, err
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture {
		return pr, fmt.Errorf("config says %s/%s", cf.OS, cf.Architecture)
	}
	if want := fmt.Sprintf("%d:%d", UID, GID); cf.Config.User != want {
		return pr, fmt.Errorf("config user %q, want %q (the kubelet can only verify runAsNonRoot for a numeric user)", cf.Config.User, want)
	}
	if ep := cf.Config.Entrypoint; len(ep) > 0 && !slices.Contains(Binaries, strings.TrimPrefix(ep[0], "/")) {
		return pr, fmt.Errorf("entrypoint %q is neither of %v", ep, Binaries)
	}
	if pr.Size, err = img.Size(); err != nil {
		return pr, err
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return pr, err
	}
	pr.Size += int64(len(rawConfig))
	layers, err := img.Layers()
	if err != nil {
		return pr, err
	}
	seen := map[string]bool{}
	var passwd, group string
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return pr, err
		}
		pr.Size += size
		rc, err := l.Uncompressed()
		if err != nil {
			return pr, err
		}
		err = walkLayer(rc, func(hdr *tar.Header, data []byte) error {
			pr.Uncompressed += hdr.Size
			name := path.Clean("/" + hdr.Name)
			switch {
			case path.Base(name) == "sh" || path.Base(name) == "busybox":
				return fmt.Errorf("%s: the image must have no shell", name)
			case name == "/etc/passwd":
				passwd = string(data)
			case name == "/etc/group":
				group = string(data)
			case slices.Contains(Binaries, strings.TrimPrefix(name, "/")):
				if err := checkBinary(hdr, data, p); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				seen[name] = true
			}
			return nil
		})
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return pr, err
		}
	}
	for _, b := range Binaries {
		if !seen["/"+b] {
			return pr, fmt.Errorf("/%s is missing", b)
		}
	}
	if !hasID(passwd, UID, 2) {
		return pr, fmt.Errorf("/etc/passwd has no entry for uid %d", UID)
	}
	if !hasID(group, GID, 2) {
		return pr, fmt.Errorf("/etc/group has no entry for gid %d", GID)
	}
	return pr, nil
}

// walkLayer calls fn for every regular file and directory of a layer,
// with the file's contents.
func walkLayer(r io.Reader, fn func(*tar.Header, []byte) error) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var data []byte
		if hdr.Typeflag == tar.TypeReg {
			if data, err = io.ReadAll(tr); err != nil {
				return err
			}
		}
		if err := fn(hdr, data); err != nil {
			return err
		}
	}
}

func checkBinary(hdr *tar.Header, data []byte, p v1.Platform) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("not a regular file (type %q)", hdr.Typeflag)
	}
	if hdr.Mode&0o001 == 0 {
		return fmt.Errorf("mode %o: not executable by uid %d", hdr.Mode, UID)
	}
	want, ok := elfMachine[p.Architecture]
	if !ok {
		return fmt.Errorf("no ELF machine known for %s", p.Architecture)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	if f.Machine != want {
		return fmt.Errorf("built for %s, want %s", f.Machine, want)
	}
	// A dynamically linked binary names its loader; the image has none.
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build it with CGO_ENABLED=0): the image has no libc")
		}
	}
	return nil
}

// hasID reports whether a passwd or group file has an entry whose field
// at index field (0-based) is id.
func hasID(db string, id, field int) bool {
	for _, line := range strings.Split(db, "\n") {
		fields := strings.Split(line, ":")
		if len(fields) > field && fields[field] == strconv.Itoa(id) {
			return true
		}
	}
	return false
}
