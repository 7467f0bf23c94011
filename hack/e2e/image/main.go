// Command image writes a container image without a registry or a base image:
// the given files in one layer, with an entrypoint and a user, as an archive
// that `ctr images import` and `docker load` read.
//
//	image --tag loyaltyops.local/loyalty-operator:e2e --out image.tar \
//	      --entrypoint /manager --user 65532:65532 /manager=bin/manager /points-engine=bin/points-engine
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	tag := flag.String("tag", "", "image reference to write, such as loyaltyops.local/loyalty-operator:e2e")
	out := flag.String("out", "", "archive to write")
	entrypoint := flag.String("entrypoint", "", "path of the entrypoint inside the image")
	user := flag.String("user", "65532:65532", "user:group the image runs as")
	flag.Parse()
	if err := run(*tag, *out, *entrypoint, *user, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(tag, out, entrypoint, user string, files []string) error {
	if tag == "" || out == "" || entrypoint == "" || len(files) == 0 {
		return fmt.Errorf("--tag, --out, --entrypoint and at least one IMAGEPATH=FILE are required")
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	layer, err := layerOf(files)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	cf = cf.DeepCopy()
	// The runtime picks images by platform, so an image without one is never used.
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1.Config{Entrypoint: []string{entrypoint}, User: user, WorkingDir: "/"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("setting the configuration: %w", err)
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}

// layerOf makes one uncompressed layer from IMAGEPATH=FILE pairs: each file
// executable, owned by root, so the non-root user can run but not change it,
// and dated at the epoch, so the same binaries make the same image.
func layerOf(files []string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, pair := range files {
		inImage, local, ok := strings.Cut(pair, "=")
		if !ok || !strings.HasPrefix(inImage, "/") {
			return nil, fmt.Errorf("file %q: want /IMAGEPATH=LOCALFILE", pair)
		}
		if err := addFile(tw, strings.TrimPrefix(inImage, "/"), local); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("making the layer: %w", err)
	}
	return layer, nil
}

func addFile(tw *tar.Writer, inImage, local string) (err error) {
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("file for /%s: %w", inImage, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("file for /%s: %w", inImage, cerr)
		}
	}()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file for /%s: %w", inImage, err)
	}
	hdr := &tar.Header{Name: inImage, Mode: 0o755, Size: info.Size(), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer entry /%s: %w", inImage, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("layer entry /%s: %w", inImage, err)
	}
	return nil
}
