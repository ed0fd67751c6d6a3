package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func testImage() Image {
	return Image{
		Name: "example.test/x/y:1.2.3", OS: "linux", Arch: "amd64",
		Entrypoint: []string{"/usr/local/bin/b"},
		Env:        []string{"PATH=/usr/local/bin"},
		Labels:     map[string]string{"org.opencontainers.image.version": "1.2.3"},
		// Unsorted on purpose: the layer sorts them.
		Files: []File{
			{Path: "/usr/local/bin/b", Mode: 0o755, Data: []byte("bin b")},
			{Path: "/etc/x/c.conflist", Mode: 0o644, Data: []byte(`{"c":1}`)},
			{Path: "/usr/local/bin/a", Mode: 0o755, Data: []byte("bin a")},
		},
	}
}

// readTar returns the entries of a tar in order, name -> content.
func readTar(t *testing.T, r io.Reader) (names []string, files map[string][]byte, hdrs map[string]*tar.Header) {
	t.Helper()
	files, hdrs = map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, files, hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		files[h.Name], hdrs[h.Name] = b, h
	}
}

func blob(t *testing.T, files map[string][]byte, d Descriptor) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if Digest(b) != d.Digest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: digest %s size %d, descriptor says size %d", d.Digest, Digest(b), len(b), d.Size)
	}
	return b
}

// TestLayout checks the tarball the way an importer reads it: index ->
// manifest -> config and layer, every digest and size verified.
func TestLayout(t *testing.T) {
	var buf bytes.Buffer
	res, err := Write(&buf, testImage())
	if err != nil {
		t.Fatal(err)
	}
	names, files, _ := readTar(t, &buf)
	if names[0] != "oci-layout" || names[len(names)-1] != "index.json" {
		t.Errorf("entries %v: want oci-layout first and index.json last", names)
	}
	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != res.Manifest.Digest {
		t.Fatalf("index %+v: want one manifest %s", idx, res.Manifest.Digest)
	}
	for _, k := range []string{AnnotationContainerdName, AnnotationRefName} {
		if got := idx.Manifests[0].Annotations[k]; got != "example.test/x/y:1.2.3" {
			t.Errorf("annotation %s = %q", k, got)
		}
	}
	var man Manifest
	if err := json.Unmarshal(blob(t, files, idx.Manifests[0]), &man); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := json.Unmarshal(blob(t, files, man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/b"}) {
		t.Errorf("config %+v", cfg)
	}
	if len(man.Layers) != 1 || man.Layers[0].MediaType != MediaTypeLayer {
		t.Fatalf("layers %+v: want one gzipped tar", man.Layers)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, man.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := Digest(raw); len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != got {
		t.Errorf("diff_ids %v, uncompressed layer is %s", cfg.RootFS.DiffIDs, got)
	}
	lnames, lfiles, lhdrs := readTar(t, bytes.NewReader(raw))
	want := []string{"etc/", "etc/x/", "etc/x/c.conflist", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/a", "usr/local/bin/b"}
	if !slices.Equal(lnames, want) {
		t.Errorf("layer entries\n got %v\nwant %v", lnames, want)
	}
	if string(lfiles["usr/local/bin/a"]) != "bin a" || lhdrs["usr/local/bin/a"].Mode != 0o755 || lhdrs["etc/x/c.conflist"].Mode != 0o644 {
		t.Errorf("layer files: a=%q mode %o, conflist mode %o", lfiles["usr/local/bin/a"], lhdrs["usr/local/bin/a"].Mode, lhdrs["etc/x/c.conflist"].Mode)
	}
	for n, h := range lhdrs {
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d gid %d mtime %v: want 0, 0, epoch", n, h.Uid, h.Gid, h.ModTime)
		}
	}
}

// Same input, same bytes: a rebuild from unchanged binaries keeps the
// image ID, whatever order the files come in.
func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	img := testImage()
	ra, err := Write(&a, img)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(img.Files)
	rb, err := Write(&b, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || !reflect.DeepEqual(ra, rb) {
		t.Errorf("two writes differ: %s vs %s", ra.Manifest.Digest, rb.Manifest.Digest)
	}
	img.Files[0].Data = []byte("changed")
	var c bytes.Buffer
	rc, err := Write(&c, img)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Manifest.Digest == ra.Manifest.Digest {
		t.Error("changed content kept the digest")
	}
}

func TestRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Image){
		"no tag":        func(i *Image) { i.Name = "example.test/x/y" },
		"no arch":       func(i *Image) { i.Arch = "" },
		"relative path": func(i *Image) { i.Files[0].Path = "usr/bin/a" },
		"unclean path":  func(i *Image) { i.Files[0].Path = "/usr/../bin/a" },
		"twice":         func(i *Image) { i.Files[1].Path = i.Files[0].Path },
	} {
		t.Run(name, func(t *testing.T) {
			img := testImage()
			mutate(&img)
			if _, err := Write(io.Discard, img); err == nil {
				t.Error("accepted")
			}
		})
	}
}
