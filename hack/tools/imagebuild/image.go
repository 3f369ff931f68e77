package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Binaries are the programs every platform's image carries, at /NAME.
var Binaries = []string{"seamark-controller", "seamark-speaker"}

// Platforms are the platforms the release image is built for.
var Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// UID and GID the binaries run as: the "nonroot" user of distroless
// images, which the chart's securityContext names too.
const (
	UID = 65532
	GID = 65532
)

// Spec is everything an image is built from. The same Spec (and the same
// binaries) gives the same digest: nothing reads the clock or the
// filesystem's order, owners or timestamps.
type Spec struct {
	// BinDir holds BinDir/<os>_<arch>/<binary> for every platform and binary.
	BinDir string
	// Version and Revision label the image (org.opencontainers.image.*).
	Version, Revision string
	// Created is the time written into the config, the history and every
	// file of the layers: SOURCE_DATE_EPOCH, or the Unix epoch.
	Created time.Time
}

// platformDir is where Spec.BinDir holds a platform's binaries.
func platformDir(p v1.Platform) string { return p.OS + "_" + p.Architecture }

// Build assembles the multi-platform OCI image index.
func Build(s Spec) (v1.ImageIndex, error) {
	base, err := baseLayer(s.Created)
	if err != nil {
		return nil, fmt.Errorf("building the base layer: %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range Platforms {
		img, err := platformImage(s, p, base)
		if err != nil {
			return nil, fmt.Errorf("building the %s image: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}},
		})
	}
	return idx, nil
}

func platformImage(s Spec, p v1.Platform, base v1.Layer) (v1.Image, error) {
	var files []file
	for _, b := range Binaries {
		path := filepath.Join(s.BinDir, platformDir(p), b)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the binary (make image builds it): %w", err)
		}
		files = append(files, file{name: b, mode: 0o755, data: data})
	}
	bins, err := layer(files, s.Created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "seamark imagebuild: /etc/passwd, /etc/group, /tmp, /home/nonroot"}},
		mutate.Addendum{Layer: bins, History: v1.History{Created: created, CreatedBy: "seamark imagebuild: /" + strings.Join(Binaries, ", /")}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = p.OS, p.Architecture, created
	// No entrypoint: the chart names the binary (command), and a shell-less
	// image has no sensible default between two programs.
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, GID),
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":    "seamark",
			"org.opencontainers.image.source":   "https://github.com/seamark-io/seamark",
			"org.opencontainers.image.licenses": "Apache-2.0",
			"org.opencontainers.image.version":  s.Version,
			"org.opencontainers.image.revision": s.Revision,
		},
	}
	return mutate.ConfigFile(img, cf)
}

// baseLayer holds what every platform shares: the user database (so that
// "nonroot" resolves and numeric-user checks pass), a writable /tmp and the
// user's home. It has no shell: nothing in the image can run but the two
// binaries.
func baseLayer(created time.Time) (v1.Layer, error) {
	return layer([]file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID))},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID))},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: UID, gid: GID},
		{name: "tmp/", mode: 0o1777, dir: true},
	}, created)
}

type file struct {
	name     string
	mode     int64
	dir      bool
	uid, gid int
	data     []byte
}

// layer writes files as a tar with fixed order, owners and times, so that
// its digest depends on the contents only.
func layer(files []file, mtime time.Time) (v1.Layer, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			ModTime: mtime, Format: tar.FormatUSTAR,
		}
		if f.dir {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
