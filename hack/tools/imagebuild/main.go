// Command imagebuild builds, checks and pushes seamark's release image
// without a container engine, with go-containerregistry:
//
//	imagebuild build -bin DIR -layout DIR -tarballs DIR -image NAME:TAG -version V
//	imagebuild check -layout DIR [-digest sha256:...]
//	imagebuild push  -layout DIR -image REGISTRY/REPO:TAG
//
// build reads DIR/<os>_<arch>/seamark-{controller,speaker} (make image
// builds them static) and writes one OCI image index for linux/amd64 and
// linux/arm64 as an OCI layout, plus one docker-load tarball per platform.
// The image is reproducible: its timestamps are $SOURCE_DATE_EPOCH (else
// the Unix epoch) and its layers' entries are sorted with fixed owners,
// so the same binaries give the same digest. push uploads the layout's
// index with the credentials of ~/.docker/config.json (or none).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: imagebuild build|check|push [flags]")
	}
	fs := flag.NewFlagSet("imagebuild "+args[0], flag.ContinueOnError)
	layoutDir := fs.String("layout", "bin/image/oci", "OCI layout directory")
	switch args[0] {
	case "build":
		binDir := fs.String("bin", "bin/image/bin", "directory of <os>_<arch>/<binary>")
		tarballs := fs.String("tarballs", "bin/image", "directory of the docker-load tarballs; empty writes none")
		image := fs.String("image", "seamark:devel", "name:tag of the image in the layout and the tarballs")
		version := fs.String("version", "devel", "version label")
		revision := fs.String("revision", "", "VCS revision label")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
		if err != nil {
			return err
		}
		idx, err := Build(Spec{BinDir: *binDir, Version: *version, Revision: *revision, Created: created})
		if err != nil {
			return err
		}
		r, err := Check(idx)
		if err != nil {
			return fmt.Errorf("the built image fails its check: %w", err)
		}
		if err := WriteLayout(*layoutDir, idx, *image); err != nil {
			return fmt.Errorf("writing the OCI layout: %w", err)
		}
		fmt.Printf("wrote %s (OCI layout, %s)\n", *layoutDir, *image)
		if *tarballs != "" {
			files, err := WriteDockerTarballs(*tarballs, idx, *image)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Printf("wrote %s (docker load)\n", f)
			}
		}
		fmt.Print(r)
		return nil
	case "check":
		digest := fs.String("digest", "", "fail unless the index has this digest (a reproducibility check)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		idx, err := ReadLayout(*layoutDir)
		if err != nil {
			return err
		}
		r, err := Check(idx)
		if err != nil {
			return err
		}
		fmt.Print(r)
		if *digest != "" && r.Digest.String() != *digest {
			return fmt.Errorf("digest %s, want %s: the build is not reproducible", r.Digest, *digest)
		}
		return nil
	case "push":
		image := fs.String("image", "", "registry/repository:tag to push to (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *image == "" {
			return errors.New("push: -image registry/repository:tag is required")
		}
		idx, err := ReadLayout(*layoutDir)
		if err != nil {
			return err
		}
		d, err := Push(idx, *image)
		if err != nil {
			return err
		}
		fmt.Printf("pushed %s@%s\n", *image, d)
		return nil
	default:
		return fmt.Errorf("unknown command %q: want build, check or push", args[0])
	}
}

// Push uploads idx, its manifests and blobs to ref and returns the digest.
func Push(idx v1.ImageIndex, ref string, opts ...remote.Option) (v1.Hash, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("parsing the image name %q: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing to %s: %w", r, err)
	}
	return idx.Digest()
}

// sourceDateEpoch parses $SOURCE_DATE_EPOCH (reproducible-builds.org):
// seconds since the Unix epoch; empty means the epoch itself.
func sourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
