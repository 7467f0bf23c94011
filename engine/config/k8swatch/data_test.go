package k8swatch

import (
	"bytes"
	"compress/gzip"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/loyaltyops/loyalty-operator/contract"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSnapshotData(t *testing.T) {
	tests := []struct {
		name string
		cm   corev1.ConfigMap
		want string
		err  string
	}{
		{name: "plain", cm: corev1.ConfigMap{Data: map[string]string{contract.SnapshotKey: `{"a":1}`}}, want: `{"a":1}`},
		{name: "plain wins", cm: corev1.ConfigMap{Data: map[string]string{contract.SnapshotKey: `{"a":1}`},
			BinaryData: map[string][]byte{contract.SnapshotGzipKey: gz(t, `{"b":2}`)}}, want: `{"a":1}`},
		{name: "compressed", cm: corev1.ConfigMap{BinaryData: map[string][]byte{contract.SnapshotGzipKey: gz(t, `{"b":2}`)}}, want: `{"b":2}`},
		{name: "corrupt", cm: corev1.ConfigMap{BinaryData: map[string][]byte{contract.SnapshotGzipKey: []byte("this is not a gzip stream")}},
			err: `binary key "snapshot.json.gz": gzip: invalid header`},
		{name: "missing", cm: corev1.ConfigMap{Data: map[string]string{"other": "x"}},
			err: `neither key "snapshot.json" nor binary key "snapshot.json.gz" found in the ConfigMap`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := snapshotData(&tt.cm, contract.SnapshotKey)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
