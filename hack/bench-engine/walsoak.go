package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The WAL soak (--wal-soak) is not a rate search: --clients connections
// send single earns as fast as the engine answers them for the soak's
// duration, while the size of the SQLite write-ahead log is sampled, and
// then the load stops and the log is watched for --wal-settle. With
// --volume-mib the database lives on a tmpfs of that size (mounting needs
// root), so that a log that outgrows the volume fills it; the soak then
// also measures how long the engine takes to accept writes again once the
// load stops, and after a restart on the same volume.

// walSoakResult is what one soak saw.
type walSoakResult struct {
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Acked    int64   `json:"ackedEarns"`
	Refused  int64   `json:"refusedEarns"` // answered with anything but 200
	Rate     float64 `json:"ackedEarnsPerSecond"`
	PeakWAL  int64   `json:"peakWalBytes"`
	WALAtEnd int64   `json:"walBytesWhenLoadStopped"`
	// FinalWAL is the log's size SettledAfter the load stopped (once it
	// was empty and writes were taken, at most --wal-settle), and
	// TruncatedAfter how long after the load stopped it was first empty
	// (absent when it never was).
	FinalWAL       int64    `json:"finalWalBytes"`
	SettledAfter   float64  `json:"finalAfterSeconds"`
	TruncatedAfter *float64 `json:"truncatedAfterSeconds,omitempty"`
	Database       int64    `json:"databaseBytes"`
	VolumeMiB      int      `json:"volumeMiB,omitempty"`
	// With a volume: when the first write was refused (the volume filled),
	// and how long after the load stopped, and after a restart on the same
	// volume, a write was accepted again (absent: not within --wal-settle).
	FirstRefusalAfter   *float64 `json:"firstRefusalAfterSeconds,omitempty"`
	WritableAfterStop   *float64 `json:"writableAfterLoadStopSeconds,omitempty"`
	WritableAfterReboot *float64 `json:"writableAfterRestartSeconds,omitempty"`
}

// walSampler records the largest size the log reached.
type walSampler struct {
	path string
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func startWALSampler(dbPath string) *walSampler {
	s := &walSampler{path: dbPath + "-wal", stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// sample returns the log's size now, recording it in the peak.
func (s *walSampler) sample() int64 {
	n := fileSize(s.path)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			return n
		}
	}
}

func (s *walSampler) close() {
	close(s.stop)
	<-s.done
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// mountVolume mounts a tmpfs of mib MiB at dir, which must exist.
func mountVolume(dir string, mib int) (unmount func(), err error) {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(mib)+"m"); err != nil {
		return nil, fmt.Errorf("mount a %d MiB tmpfs at %s (needs root): %w", mib, dir, err)
	}
	return func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) }, nil
}

// walSoak runs the soak against a seeded engine whose database is dbPath;
// restart starts the engine again on the same files (after stopping it).
func walSoak(ctx context.Context, b *bench, o options, dbPath string, restart func() (*engineProc, error)) (walSoakResult, error) {
	res := walSoakResult{Clients: o.clients, VolumeMiB: o.volumeMiB}
	sc := b.scenarios(o.batchConns, o.clients)[1] // single-earn
	run := b.runID.Add(1)
	sampler := startWALSampler(dbPath)
	defer sampler.close()

	logf("  wal-soak: %d clients sending single earns as fast as answered for %s", o.clients, o.walSoak)
	start := time.Now()
	var firstRefusal atomic.Int64 // nanoseconds after start; 0 while none
	var seq atomic.Int64
	var wg sync.WaitGroup
	loadCtx, stopLoad := context.WithTimeout(ctx, o.walSoak)
	defer stopLoad()
	for c := range o.clients {
		wg.Go(func() {
			w := &worker{rng: newRand(c)}
			for loadCtx.Err() == nil {
				r := sc.request(w, run, seq.Add(1))
				if out := b.send(ctx, r); out.ok == 1 {
					atomic.AddInt64(&res.Acked, 1)
					continue
				}
				atomic.AddInt64(&res.Refused, 1)
				firstRefusal.CompareAndSwap(0, int64(time.Since(start)))
				time.Sleep(20 * time.Millisecond) // a refused client backs off
			}
		})
	}
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	go func() {
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-progress.C:
				logf("  wal-soak: %3.0fs: WAL %s (peak %s), %d earns acknowledged, %d refused",
					time.Since(start).Seconds(), mib(sampler.sample()), mib(sampler.peak.Load()), atomic.LoadInt64(&res.Acked), atomic.LoadInt64(&res.Refused))
			}
		}
	}()
	wg.Wait()
	stopped := time.Now()
	res.Seconds = stopped.Sub(start).Seconds()
	res.Rate = float64(res.Acked) / res.Seconds
	res.WALAtEnd = sampler.sample()
	if n := firstRefusal.Load(); n > 0 {
		res.FirstRefusalAfter = seconds(time.Duration(n))
	}
	logf("  wal-soak: load stopped after %.0fs: %d earns acknowledged (%.0f/s), %d refused; WAL %s, peak %s",
		res.Seconds, res.Acked, res.Rate, res.Refused, mib(res.WALAtEnd), mib(sampler.peak.Load()))

	// A write after the load, as a client retrying would send it.
	probe := func() bool {
		r := sc.request(&worker{rng: newRand(-1)}, run, seq.Add(1))
		return b.send(ctx, r).ok == 1
	}
	writable := res.Refused == 0
	deadline := stopped.Add(o.walSettle)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if res.TruncatedAfter == nil && sampler.sample() == 0 {
			res.TruncatedAfter = seconds(time.Since(stopped))
		}
		if !writable && probe() {
			writable = true
			res.WritableAfterStop = seconds(time.Since(stopped))
		}
		if res.TruncatedAfter != nil && writable {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	res.FinalWAL = sampler.sample()
	res.SettledAfter = time.Since(stopped).Seconds()
	res.PeakWAL = sampler.peak.Load()
	res.Database = fileSize(dbPath)
	logf("  wal-soak: %s after the load: WAL %s, database %s%s", time.Since(stopped).Round(100*time.Millisecond), mib(res.FinalWAL), mib(res.Database), writableNote(res.Refused > 0, res.WritableAfterStop))

	if res.Refused > 0 && res.WritableAfterStop == nil {
		restarted := time.Now()
		eng, err := restart()
		if err != nil {
			return res, fmt.Errorf("restart on the same volume: %w", err)
		}
		b.eng = eng
		for time.Since(restarted) < o.walSettle && ctx.Err() == nil {
			if probe() {
				res.WritableAfterReboot = seconds(time.Since(restarted))
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		logf("  wal-soak: restarted on the same volume: WAL %s, database %s%s", mib(fileSize(dbPath+"-wal")), mib(fileSize(dbPath)), writableNote(true, res.WritableAfterReboot))
	}
	return res, nil
}

func writableNote(refused bool, after *float64) string {
	switch {
	case !refused:
		return ""
	case after == nil:
		return "; writes STILL REFUSED"
	default:
		return fmt.Sprintf("; writes accepted again after %.1fs", *after)
	}
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// soakStore runs the soak on SQLite in dir, on a tmpfs when o.volumeMiB is
// set, and then checks the store as the rate search does (on the volume,
// before it is unmounted).
func soakStore(ctx context.Context, o options, dir string, snap []byte) (walSoakResult, *verdict, error) {
	dataDir := filepath.Join(dir, "volume")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return walSoakResult{}, nil, err
	}
	if o.volumeMiB > 0 {
		unmount, err := mountVolume(dataDir, o.volumeMiB)
		if err != nil {
			return walSoakResult{}, nil, err
		}
		defer unmount()
	}
	path := filepath.Join(dataDir, "ledger.db")
	storeArgs := []string{"--store", "sqlite", "--sqlite-path", path}
	eng, err := startEngine(ctx, o.engineBin, dir, snap, storeArgs, "/readyz")
	if err != nil {
		return walSoakResult{}, nil, err
	}
	b := newBench(eng, o.members, o.hotMembers, max(o.clients, 32))
	running := true
	defer func() {
		if running {
			_ = b.eng.stop()
		}
	}()
	if err := b.seed(ctx); err != nil {
		return walSoakResult{}, nil, err
	}
	restart := func() (*engineProc, error) {
		if err := b.eng.stop(); err != nil {
			logf("  stopping the engine on a full volume: %v", err)
		}
		bin := o.engineBin
		if o.restartBin != "" {
			bin = o.restartBin
		}
		// Ready or not: a store that cannot write may rightly say it is not.
		return startEngine(ctx, bin, dir, snap, storeArgs, "/healthz")
	}
	res, err := walSoak(ctx, b, o, path, restart)
	if err != nil {
		return res, nil, err
	}
	retried, unresolved := b.settleUnknown(context.Background())
	if retried > 0 {
		logf("  retried %d writes whose outcome was unknown with their idempotency keys; %d still unknown", retried, unresolved)
	}
	running = false
	if err := b.eng.stop(); err != nil {
		return res, nil, err
	}
	v, err := verify(context.Background(), func(ctx context.Context) (checker, error) { return openSQLite(ctx, path) }, b)
	return res, v, err
}

// newRand is a worker's random source.
func newRand(i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
}
