package main

import (
	"crypto/sha256"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// programs holds small static Go programs built once for each platform:
// programs[variant][arch]. They stand in for seamark's binaries, which
// make image-check builds and checks for real.
var programs = map[string]map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imagebuild-test")
	if err != nil {
		log.Fatal(err)
	}
	code := func() int {
		defer func() { _ = os.RemoveAll(dir) }()
		for _, variant := range []string{"a", "b"} {
			programs[variant] = map[string]string{}
			src := filepath.Join(dir, "src-"+variant)
			if err := os.MkdirAll(src, 0o755); err != nil {
				log.Fatal(err)
			}
			writeFile(filepath.Join(src, "go.mod"), "module example.com/prog\n\ngo 1.26\n")
			writeFile(filepath.Join(src, "main.go"), fmt.Sprintf("package main\n\nfunc main() { println(%q) }\n", variant))
			for _, p := range Platforms {
				out := filepath.Join(dir, "bin-"+variant+"-"+p.Architecture)
				cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
				cmd.Dir = src
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-buildvcs=false")
				if b, err := cmd.CombinedOutput(); err != nil {
					log.Fatalf("building the test program for %s: %v\n%s", p, err, b)
				}
				programs[variant][p.Architecture] = out
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func writeFile(path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
}

// binDir lays out a Spec.BinDir: for every platform and binary, the file
// pick returns.
func binDir(t *testing.T, pick func(arch, binary string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range Platforms {
		for _, b := range Binaries {
			data, err := os.ReadFile(pick(p.Architecture, b))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, platformDir(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, platformDir(p), b), data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func variant(v string) func(arch, binary string) string {
	return func(arch, _ string) string { return programs[v][arch] }
}

func spec(t *testing.T, pick func(arch, binary string) string) Spec {
	t.Helper()
	return Spec{BinDir: binDir(t, pick), Version: "v0.0.0-test", Revision: "0123abc", Created: time.Unix(1700000000, 0).UTC()}
}

func build(t *testing.T, s Spec) v1.ImageIndex {
	t.Helper()
	idx, err := Build(s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return idx
}

func digest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildIsReproducible(t *testing.T) {
	s := spec(t, variant("a"))
	first := build(t, s)
	// A second build from a copy of the binaries in another directory,
	// written at another time: nothing but the contents may count.
	again := spec(t, variant("a"))
	if err := os.Chtimes(filepath.Join(again.BinDir, "linux_amd64", Binaries[0]), time.Now(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	second := build(t, again)
	if a, b := digest(t, first), digest(t, second); a != b {
		t.Fatalf("two builds of the same inputs: digests %s and %s", a, b)
	}

	// The same goes for what is written to disk.
	var sums []map[string][32]byte
	for _, idx := range []v1.ImageIndex{first, second} {
		dir := t.TempDir()
		if err := WriteLayout(filepath.Join(dir, "oci"), idx, "seamark:test"); err != nil {
			t.Fatal(err)
		}
		files, err := WriteDockerTarballs(dir, idx, "seamark:test")
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, hashFiles(t, append(files, filepath.Join(dir, "oci", "index.json"))))
	}
	if diff := compareSums(sums[0], sums[1]); diff != "" {
		t.Errorf("the written files differ between two builds: %s", diff)
	}

	// And the digest does depend on the inputs.
	changed := map[string]Spec{
		"another binary":  spec(t, variant("b")),
		"another time":    {BinDir: s.BinDir, Version: s.Version, Revision: s.Revision, Created: s.Created.Add(time.Second)},
		"another version": {BinDir: s.BinDir, Version: "v0.0.1", Revision: s.Revision, Created: s.Created},
	}
	for what, s := range changed {
		if digest(t, build(t, s)) == digest(t, first) {
			t.Errorf("%s gave the same digest", what)
		}
	}
}

func hashFiles(t *testing.T, files []string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sums[filepath.Base(f)] = sha256.Sum256(b)
	}
	return sums
}

func compareSums(a, b map[string][32]byte) string {
	var diffs []string
	for f, s := range a {
		if b[f] != s {
			diffs = append(diffs, f)
		}
	}
	if len(a) != len(b) {
		diffs = append(diffs, fmt.Sprintf("%d files, then %d", len(a), len(b)))
	}
	return strings.Join(diffs, ", ")
}

func TestCheckAcceptsTheBuiltImage(t *testing.T) {
	idx := build(t, spec(t, variant("a")))
	r, err := Check(idx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(r.Platforms) != len(Platforms) {
		t.Fatalf("report has %d platforms, want %d", len(r.Platforms), len(Platforms))
	}
	for _, p := range r.Platforms {
		if p.Size <= 0 || p.Uncompressed <= p.Size/2 {
			t.Errorf("%s: sizes %d compressed, %d unpacked look wrong", p.Platform, p.Size, p.Uncompressed)
		}
	}
}

// replaceImage returns idx with the image of platform arch passed
// through fn, or dropped when fn returns nil.
func replaceImage(t *testing.T, idx v1.ImageIndex, arch string, fn func(v1.Image) v1.Image) v1.ImageIndex {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if d.Platform.Architecture == arch {
			if img = fn(img); img == nil {
				continue
			}
		}
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: d.Platform}})
	}
	return out
}

func withConfig(t *testing.T, fn func(*v1.Config)) func(v1.Image) v1.Image {
	return func(img v1.Image) v1.Image {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg := cf.Config
		fn(&cfg)
		img, err = mutate.Config(img, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
}

func TestCheckRejects(t *testing.T) {
	good := build(t, spec(t, variant("a")))
	tests := []struct {
		name string
		idx  func(t *testing.T) v1.ImageIndex
		want string
	}{
		{"an arm64 binary in the amd64 image", func(t *testing.T) v1.ImageIndex {
			return build(t, spec(t, func(arch, b string) string {
				if b == "seamark-speaker" {
					return programs["a"]["arm64"]
				}
				return programs["a"][arch]
			}))
		}, "/seamark-speaker: built for EM_AARCH64"},
		{"a dynamically linked binary", func(t *testing.T) v1.ImageIndex {
			dynamic, err := exec.LookPath("true")
			if err != nil {
				t.Fatalf("no dynamically linked amd64 binary to test with: %v", err)
			}
			return build(t, spec(t, func(arch, b string) string {
				if arch == "amd64" && b == "seamark-controller" {
					return dynamic
				}
				return programs["a"][arch]
			}))
		}, "dynamically linked"},
		{"root as the user", func(t *testing.T) v1.ImageIndex {
			return replaceImage(t, good, "arm64", withConfig(t, func(c *v1.Config) { c.User = "0" }))
		}, `config user "0"`},
		{"a user by name", func(t *testing.T) v1.ImageIndex {
			return replaceImage(t, good, "amd64", withConfig(t, func(c *v1.Config) { c.User = "nonroot" }))
		}, `config user "nonroot"`},
		{"a shell as the entrypoint", func(t *testing.T) v1.ImageIndex {
			return replaceImage(t, good, "amd64", withConfig(t, func(c *v1.Config) { c.Entrypoint = []string{"/bin/sh"} }))
		}, "entrypoint"},
		{"a missing platform", func(t *testing.T) v1.ImageIndex {
			return replaceImage(t, good, "arm64", func(v1.Image) v1.Image { return nil })
		}, "platforms [linux/amd64], want [linux/amd64 linux/arm64]"},
		{"a shell in a layer", func(t *testing.T) v1.ImageIndex {
			return replaceImage(t, good, "amd64", func(img v1.Image) v1.Image {
				l, err := layer([]file{{name: "bin/", mode: 0o755, dir: true}, {name: "bin/sh", mode: 0o755, data: []byte("#!")}}, time.Unix(0, 0))
				if err != nil {
					t.Fatal(err)
				}
				img, err = mutate.AppendLayers(img, l)
				if err != nil {
					t.Fatal(err)
				}
				return img
			})
		}, "/bin/sh: the image must have no shell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(tt.idx(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestBuildNamesAMissingBinary(t *testing.T) {
	s := spec(t, variant("a"))
	if err := os.Remove(filepath.Join(s.BinDir, "linux_arm64", "seamark-speaker")); err != nil {
		t.Fatal(err)
	}
	_, err := Build(s)
	if err == nil || !strings.Contains(err.Error(), "linux_arm64/seamark-speaker") {
		t.Fatalf("Build: %v, want an error naming the missing binary", err)
	}
}

func TestLayoutAndTarballs(t *testing.T) {
	idx := build(t, spec(t, variant("a")))
	dir := t.TempDir()
	oci := filepath.Join(dir, "oci")
	if err := WriteLayout(oci, idx, "seamark:test"); err != nil {
		t.Fatal(err)
	}
	// Writing again replaces the layout rather than adding to it.
	if err := WriteLayout(oci, idx, "seamark:test"); err != nil {
		t.Fatal(err)
	}
	read, err := ReadLayout(oci)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digest(t, read), digest(t, idx); got != want {
		t.Fatalf("layout holds %s, want %s", got, want)
	}
	if _, err := Check(read); err != nil {
		t.Fatalf("Check of the layout: %v", err)
	}
	if err := WriteLayout(dir, idx, "seamark:test"); err == nil || !strings.Contains(err.Error(), "not an OCI layout") {
		t.Fatalf("WriteLayout over a directory that is not a layout: %v, want a refusal", err)
	}

	files, err := WriteDockerTarballs(dir, idx, "seamark:test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("seamark:test")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if want := fmt.Sprintf("seamark-linux-%s.tar", m.Manifests[i].Platform.Architecture); filepath.Base(f) != want {
			t.Errorf("tarball %s, want %s", f, want)
		}
		img, err := tarball.ImageFromPath(f, &tag)
		if err != nil {
			t.Fatalf("%s is not a docker-load tarball of seamark:test: %v", f, err)
		}
		orig, err := idx.Image(m.Manifests[i].Digest)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := img.ConfigName()
		want, _ := orig.ConfigName()
		if got != want {
			t.Errorf("%s holds config %s, want %s", f, got, want)
		}
	}
}

func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(testWriter{t}, "", 0))))
	defer srv.Close()
	idx := build(t, spec(t, variant("a")))
	ref := strings.TrimPrefix(srv.URL, "http://") + "/seamark/seamark:v0.0.0-test"
	d, err := Push(idx, ref)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling the index back: %v", err)
	}
	if got := digest(t, pulled); got != d || d != digest(t, idx) {
		t.Fatalf("pulled %s, pushed %s, built %s", got, d, digest(t, idx))
	}
	if _, err := Check(pulled); err != nil {
		t.Fatalf("Check of the pulled image: %v", err)
	}
	// A node pulls its own platform by the tag.
	arm, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := arm.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm64" || cf.Config.User != "65532:65532" {
		t.Fatalf("linux/arm64 pull: architecture %s, user %s", cf.Architecture, cf.Config.User)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
