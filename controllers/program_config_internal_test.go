package controllers

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

func TestSnapshotConfigMapSizes(t *testing.T) {
	p := &loyaltyv1alpha1.LoyaltyProgram{ObjectMeta: metav1.ObjectMeta{Name: "beans", Namespace: "shop"}}

	small := []byte(`{"version":"loyaltyops.io/snapshot/v1"}`)
	cm, err := snapshotConfigMap(p, small, "h1")
	if err != nil || cm.Data[render.SnapshotKey] != string(small) || cm.BinaryData != nil {
		t.Fatalf("a small snapshot is stored as text: %v %v", err, cm)
	}

	large := []byte(`{"rewards":[` + strings.Repeat(`{"id":"reward","displayName":"A reward members like","cost":100},`, 20000) + `{}]}`)
	cm, err = snapshotConfigMap(p, large, "h2")
	if err != nil {
		t.Fatalf("a large but compressible snapshot must fit: %v", err)
	}
	if _, ok := cm.Data[render.SnapshotKey]; ok {
		t.Fatal("the uncompressed copy must not be kept next to the compressed one")
	}
	zr, err := gzip.NewReader(bytes.NewReader(cm.BinaryData[render.SnapshotKey+".gz"]))
	if err != nil {
		t.Fatal(err)
	}
	round, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(round, large) {
		t.Fatalf("the compressed snapshot does not round-trip: %v", err)
	}
	if cm.Data[render.SnapshotHashKey] != "h2" {
		t.Error("the hash must stay readable as text")
	}

	noise := make([]byte, 900*1024)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	_, err = snapshotConfigMap(p, []byte(base64.StdEncoding.EncodeToString(noise)), "h3")
	var tooLarge *snapshotTooLargeError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("an incompressible oversized snapshot must be refused, not truncated; got %v", err)
	}
}
