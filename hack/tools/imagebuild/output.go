package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// refNameAnnotation names the image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes idx as the only image of a fresh OCI layout at dir,
// tagged tag. A layout already at dir is replaced, so that no blob of an
// earlier build survives; any other existing dir is an error.
func WriteLayout(dir string, idx v1.ImageIndex, tag string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("%s exists and is not an OCI layout: not replacing it", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: tag}))
}

// ReadLayout returns the image index WriteLayout wrote into dir.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the OCI layout (make image writes it): %w", err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s/index.json lists %d entries, want the one image index make image writes", dir, len(m.Manifests))
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}

// WriteDockerTarballs writes one `docker load`-able tarball per platform,
// dir/seamark-<os>-<arch>.tar, tagged ref. docker load takes one image
// per tag and platform (the classic image store has no index), so the
// multi-platform image is the layout and the registry push; the tarballs
// are for loading one node's platform by hand (docker load, or
// ctr -n k8s.io images import on a containerd node). It returns the files.
func WriteDockerTarballs(dir string, idx v1.ImageIndex, ref string) ([]string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing the image name %q: %w", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var files []string
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		f := filepath.Join(dir, fmt.Sprintf("seamark-%s-%s.tar", d.Platform.OS, d.Platform.Architecture))
		if err := tarball.WriteToFile(f, tag, img); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f, err)
		}
		files = append(files, f)
	}
	return files, nil
}
