// The Go side of the session-cycle benchmark (bench/README.md, "session_cycle"): the real toolhive
// v0.66.0 session.RedisStorage (go-redis), made the way toolhive makes it (NewRedisStorage with a
// redisconn.Config: lib/redisconn stands in for toolhive-core's module, SPEC.md 2.4), on the
// proxy runner's prefix and TTL. One cycle is Store(session) then Load(id): `set <key> <record> ex
// 7200`, then `getex <key> ex 7200` and the record decoded into toolhive's own session type.
//
// The 64 sessions (bench/README.md, "session_cycle", has their values) are toolhive's *ProxySession values:
// each is stored once from a seed with the fixed values (toolhive's setters of times are
// unexported), then loaded, and the loaded session is what the cycles store, so the record bytes
// are the same in every run and every runtime.
//
//	go-seq  N cycles one after another in one goroutine, cycle i on session i % 64
//	go-c64  64 goroutines, goroutine k doing N/64 cycles on session k
//
// Every Load is checked (the stored id and type, the owner in the metadata); a failure ends the
// program with status 1.
//
// Usage:
//
//	toolhive-v0.66.0-bench --url redis://127.0.0.1:PORT MODE [-n N]   one mode after a warm-up;
//	    prints "MODE CYCLES SECONDS CYCLES_PER_S"
//	toolhive-v0.66.0-bench --url URL worker   the store opened once, "ready {versions}"; then per
//	    stdin line "MODE N" one run, answered "MODE CYCLES SECONDS CPU_SECONDS" (the process's CPU
//	    time during the run; bench/sessions/suite.py drives it)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stacklok/toolhive-core/redisconn"
	"github.com/stacklok/toolhive/pkg/transport/session"
)

const (
	nSessions = 64
	prefix    = "thv:proxy:session:"
	createdAt = "2026-12-05T09:00:00.123456789Z"
	updatedAt = "2026-12-05T09:30:00.987654321Z"
	owner     = "user:bench@example.com"
)

func sessionID(k int) string { return fmt.Sprintf("5e55104e-be4c-4000-8000-%012x", k) }

func metadata() map[string]string {
	return map[string]string{
		"backend_sid":                      "mcp-session-7f3a9c2e",
		"backend_url":                      "http://127.0.0.1:8080/mcp",
		session.MetadataKeyIdentityBinding: owner,
	}
}

// seed is a session with exactly the fixed values; toolhive serializes any Session through the
// interface, so its record is the one a *ProxySession holding them writes.
type seed struct {
	id               string
	created, updated time.Time
	meta             map[string]string
}

func (s *seed) ID() string                               { return s.id }
func (s *seed) Type() session.SessionType                { return session.SessionTypeMCP }
func (s *seed) CreatedAt() time.Time                     { return s.created }
func (s *seed) UpdatedAt() time.Time                     { return s.updated }
func (s *seed) GetData() interface{}                     { return nil }
func (s *seed) SetData(interface{})                      {}
func (s *seed) GetMetadata() map[string]string           { return s.meta }
func (s *seed) GetMetadataValue(k string) (string, bool) { v, ok := s.meta[k]; return v, ok }
func (s *seed) SetMetadata(k, v string)                  { s.meta[k] = v }

type bench struct {
	st       *session.RedisStorage
	ids      []string
	sessions []session.Session
}

func open(ctx context.Context, raw string) (*bench, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "redis" || u.Host == "" {
		return nil, fmt.Errorf("--url: want redis://host:port, got %q", raw)
	}
	st, err := session.NewRedisStorage(ctx, redisconn.Config{Addr: u.Host}, prefix, session.DefaultSessionTTL)
	if err != nil {
		return nil, err
	}
	c, _ := time.Parse(time.RFC3339Nano, createdAt)
	up, _ := time.Parse(time.RFC3339Nano, updatedAt)
	b := &bench{st: st}
	for k := 0; k < nSessions; k++ {
		id := sessionID(k)
		if err := st.Store(ctx, &seed{id, c, up, metadata()}); err != nil {
			return nil, err
		}
		s, err := st.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		if _, ok := s.(*session.ProxySession); !ok {
			return nil, fmt.Errorf("load %s: a %T, not toolhive's *ProxySession", id, s)
		}
		b.ids, b.sessions = append(b.ids, id), append(b.sessions, s)
	}
	return b, nil
}

func (b *bench) cycle(ctx context.Context, k int) error {
	if err := b.st.Store(ctx, b.sessions[k]); err != nil {
		return fmt.Errorf("store %s: %w", b.ids[k], err)
	}
	s, err := b.st.Load(ctx, b.ids[k])
	if err != nil {
		return fmt.Errorf("load %s: %w", b.ids[k], err)
	}
	if s.ID() != b.ids[k] || s.Type() != session.SessionTypeMCP {
		return fmt.Errorf("load %s: got id %q type %q", b.ids[k], s.ID(), s.Type())
	}
	if v, _ := s.GetMetadataValue(session.MetadataKeyIdentityBinding); v != owner {
		return fmt.Errorf("load %s: owner %q", b.ids[k], v)
	}
	return nil
}

// run does n cycles of mode (go-c64: n rounded up to a multiple of 64) and returns how many.
func (b *bench) run(ctx context.Context, mode string, n int) (int, error) {
	switch mode {
	case "go-seq":
		for i := 0; i < n; i++ {
			if err := b.cycle(ctx, i%nSessions); err != nil {
				return i, err
			}
		}
		return n, nil
	case "go-c64":
		per := (n + nSessions - 1) / nSessions
		errs := make([]error, nSessions)
		var wg sync.WaitGroup
		for k := 0; k < nSessions; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				for i := 0; i < per && errs[k] == nil; i++ {
					errs[k] = b.cycle(ctx, k)
				}
			}(k)
		}
		wg.Wait()
		return per * nSessions, errors.Join(errs...)
	}
	return 0, fmt.Errorf("unknown mode %q (go-seq, go-c64)", mode)
}

func timed(ctx context.Context, b *bench, mode string, n int) (int, float64, error) {
	t0 := time.Now()
	done, err := b.run(ctx, mode, n)
	return done, time.Since(t0).Seconds(), err
}

// cpuSeconds: the process's CPU time (user + system, every thread).
func cpuSeconds() float64 {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
}

// versions: the toolchain and the modules as built.
func versions() string {
	v := map[string]string{"go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/stacklok/toolhive":
				v["toolhive"] = d.Version
			case "github.com/redis/go-redis/v9":
				v["go-redis"] = d.Version
			}
		}
	}
	return fmt.Sprintf(`{"go": %q, "toolhive": %q, "go-redis": %q}`, v["go"], v["toolhive"], v["go-redis"])
}

func worker(ctx context.Context, b *bench) error {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready", versions())
	out.Flush()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		n := 0
		if len(f) == 2 {
			n, _ = strconv.Atoi(f[1])
		}
		if n < 1 {
			return fmt.Errorf("worker: want \"MODE N\", got %q", in.Text())
		}
		cpu := cpuSeconds()
		done, s, err := timed(ctx, b, f[0], n)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %d %.9f %.6f\n", f[0], done, s, cpuSeconds()-cpu)
		out.Flush()
	}
	return in.Err()
}

func main() {
	u := flag.String("url", "", "the server, redis://host:port")
	n := flag.Int("n", 10000, "cycles (one mode)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: toolhive-v0.66.0-bench --url redis://host:port go-seq|go-c64|worker [-n N]")
		os.Exit(2)
	}
	ctx := context.Background()
	b, err := open(ctx, *u)
	if err == nil {
		defer b.st.Close()
		if mode := flag.Arg(0); mode == "worker" {
			err = worker(ctx, b)
		} else if _, _, err = timed(ctx, b, mode, min(*n, 640)); err == nil {
			var done int
			var s float64
			done, s, err = timed(ctx, b, mode, *n)
			fmt.Printf("%s %d %.6f %.0f\n", mode, done, s, float64(done)/s)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "toolhive-v0.66.0-bench: %v\n", err)
		os.Exit(1)
	}
}
