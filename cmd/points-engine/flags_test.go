package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, name := range []string{"LISTEN_ADDR", "STORE", "SQLITE_PATH", "DATABASE_URL", "CONFIG_FILE", "CONFIG_CONFIGMAP", "API_KEYS_DIR", "DUE_INTERVAL", "TIER_PASS_RATE", "POSTGRES_WRITERS", "SQLITE_WAL_LIMIT", "MAX_READ_AGE"} {
		t.Setenv(name, "") // the machine's environment must not leak into the cases
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		err   string
		check func(options) bool
	}{
		{name: "file config", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			check: func(o options) bool {
				return o.store == "sqlite" && o.listen == ":8080" && o.dueInterval == 5*time.Second && o.tierPassRate == 500
			}},
		{name: "zero tier pass rate", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--tier-pass-rate=0"},
			err: "--tier-pass-rate 0: must be a positive number of members a second"},
		{name: "tier pass rate from env", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env:   map[string]string{"TIER_PASS_RATE": "50"},
			check: func(o options) bool { return o.tierPassRate == 50 }},
		{name: "postgres writers", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--postgres-writers=2"},
			check: func(o options) bool { return o.postgresWriters == 2 }},
		{name: "postgres writers default", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			check: func(o options) bool { return o.postgresWriters == 4 }},
		{name: "postgres writers from env", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env:   map[string]string{"POSTGRES_WRITERS": "8"},
			check: func(o options) bool { return o.postgresWriters == 8 }},
		{name: "no postgres writers", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--postgres-writers=0"},
			err: "--postgres-writers 0: want 1 to 64"},
		{name: "malformed env value", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env: map[string]string{"DUE_INTERVAL": "5 minutes"},
			err: `DUE_INTERVAL="5 minutes" for --due-interval: parse error`},
		{name: "malformed env number", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env: map[string]string{"POSTGRES_WRITERS": "four"},
			err: `POSTGRES_WRITERS="four" for --postgres-writers: parse error`},
		{name: "WAL limit and read age defaults", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			check: func(o options) bool { return o.walLimit == 64<<20 && o.maxReadAge == time.Minute }},
		{name: "WAL limit", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--sqlite-wal-limit=256Mi"},
			check: func(o options) bool { return o.walLimit == 256<<20 }},
		{name: "WAL limit from env", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env:   map[string]string{"SQLITE_WAL_LIMIT": "1Gi"},
			check: func(o options) bool { return o.walLimit == 1<<30 }},
		{name: "WAL limit too small", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--sqlite-wal-limit=512Ki"},
			err: "--sqlite-wal-limit 512Ki: want 1Mi to 16Gi"},
		{name: "WAL limit too large", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--sqlite-wal-limit=32Gi"},
			err: "--sqlite-wal-limit 32Gi: want 1Mi to 16Gi"},
		{name: "malformed WAL limit", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env: map[string]string{"SQLITE_WAL_LIMIT": "lots"},
			err: `SQLITE_WAL_LIMIT="lots" for --sqlite-wal-limit: want a size such as "64Mi" or "1Gi"`},
		{name: "max read age from env", args: []string{"--config-file=s.json", "--api-keys-dir=k"},
			env:   map[string]string{"MAX_READ_AGE": "5m"},
			check: func(o options) bool { return o.maxReadAge == 5*time.Minute }},
		{name: "max read age too short", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--max-read-age=500ms"},
			err: "--max-read-age 500ms: want 1s to 24h"},
		{name: "no config", args: []string{"--api-keys-dir=k"}, err: "set exactly one of --config-file or --config-configmap"},
		{name: "two configs", args: []string{"--config-file=s.json", "--config-configmap=ns/cm", "--api-keys-dir=k"}, err: "set exactly one of --config-file or --config-configmap"},
		{name: "no keys", args: []string{"--config-file=s.json"}, err: "--api-keys-dir is required"},
		{name: "bad store", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--store=mysql"}, err: `--store "mysql": want sqlite or postgres`},
		{name: "postgres without url", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--store=postgres"}, err: "--store=postgres needs --postgres-url or DATABASE_URL"},
		{name: "postgres from env", args: []string{"--config-file=s.json", "--api-keys-dir=k", "--store=postgres"},
			env:   map[string]string{"DATABASE_URL": "postgres://db/loyalty"},
			check: func(o options) bool { return o.postgresURL == "postgres://db/loyalty" }},
		{name: "env defaults, flag wins", args: []string{"--listen=:9000"},
			env: map[string]string{"LISTEN_ADDR": ":7000", "CONFIG_CONFIGMAP": "shop/engine", "API_KEYS_DIR": "/keys", "DUE_INTERVAL": "2s"},
			check: func(o options) bool {
				return o.listen == ":9000" && o.configConfigMap == "shop/engine" && o.apiKeysDir == "/keys" && o.dueInterval == 2*time.Second
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o, err := parseFlags(tt.args)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options = %+v", o)
			}
		})
	}
}

// Usage, printed on --help and on a flag error, never shows the database
// URL, which may hold a password.
func TestUsageHidesDatabaseURL(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://loyalty:s3cret-pw@db/loyalty")
	var out strings.Builder
	flagOutput = &out
	t.Cleanup(func() { flagOutput = os.Stderr })
	for _, args := range [][]string{{"--help"}, {"--no-such-flag"}} {
		out.Reset()
		if _, err := parseFlags(args); err == nil {
			t.Fatalf("%v: no error", args)
		}
		if !strings.Contains(out.String(), "-postgres-url") || strings.Contains(out.String(), "s3cret-pw") {
			t.Errorf("%v: usage %q", args, out.String())
		}
	}
}
