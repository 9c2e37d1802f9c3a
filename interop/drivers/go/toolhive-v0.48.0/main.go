// The Go driver of the session interop checks: the real toolhive v0.48.0 session stores
// (github.com/stacklok/toolhive pkg/transport/session, RedisStorage and RedisSessionDataStorage)
// answering JSON lines on stdin, one per line on stdout (interop/CONTRACT.md, "Go drivers").
//
//	REDIS_URL=redis://[user:password@]host:port go-toolhive-v0.48.0 [--prefix P] [--data-prefix P]
//	    [--ttl-ms N] [--data-ttl-ms N] [--cluster]
//
// Requests {"id", "op", "args"}: session.store {session}, session.load {id}, session.delete {id},
// session.data_create / data_update {id, data}, session.data_load {id}, session.data_delete {id}.
// A session is {"id", "type", "created_at", "updated_at" (RFC 3339 with nanoseconds and offset),
// "data" (a JSON value, absent: none), "metadata"}: the driver's own Session type holds exactly
// those values, and toolhive's serializer writes them. Answers {"id", "ok": true, "result"} or
// {"id", "ok": false, "error": {"kind", "message"}} with kind SessionNotFound or Error and Go's
// text. The URL's password is never printed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	tcredis "github.com/stacklok/toolhive-core/redis"
	"github.com/stacklok/toolhive/pkg/transport/session"
)

// sess is a session with exactly the caller's values (toolhive's constructors stamp time.Now()).
type sess struct {
	id, typ          string
	created, updated time.Time
	data             json.RawMessage
	meta             map[string]string
}

func (s *sess) ID() string                { return s.id }
func (s *sess) Type() session.SessionType { return session.SessionType(s.typ) }
func (s *sess) CreatedAt() time.Time      { return s.created }
func (s *sess) UpdatedAt() time.Time      { return s.updated }

// GetData: none for a streamable session, as toolhive's StreamableSession (whose constructor
// cannot take the caller's times, so this type stands in for all three).
func (s *sess) GetData() interface{} {
	if s.data == nil || s.typ == string(session.SessionTypeStreamable) {
		return nil
	}
	return s.data
}
func (s *sess) SetData(d interface{})                    { s.data, _ = d.(json.RawMessage) }
func (s *sess) GetMetadata() map[string]string           { return s.meta }
func (s *sess) GetMetadataValue(k string) (string, bool) { v, ok := s.meta[k]; return v, ok }
func (s *sess) SetMetadata(k, v string)                  { s.meta[k] = v }

type wire struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	CreatedAt string            `json:"created_at"`
	UpdatedAt string            `json:"updated_at"`
	Data      json.RawMessage   `json:"data,omitempty"`
	Metadata  map[string]string `json:"metadata"`
}

func fromWire(w wire) (*sess, error) {
	c, err := time.Parse(time.RFC3339Nano, w.CreatedAt)
	if err != nil {
		return nil, err
	}
	u, err := time.Parse(time.RFC3339Nano, w.UpdatedAt)
	if err != nil {
		return nil, err
	}
	s := &sess{id: w.ID, typ: w.Type, created: c, updated: u, meta: w.Metadata}
	if len(w.Data) > 0 {
		s.data = w.Data
	}
	if s.meta == nil {
		s.meta = map[string]string{}
	}
	return s, nil
}

func toWire(s session.Session) wire {
	w := wire{ID: s.ID(), Type: string(s.Type()), CreatedAt: s.CreatedAt().Format(time.RFC3339Nano),
		UpdatedAt: s.UpdatedAt().Format(time.RFC3339Nano), Metadata: s.GetMetadata()}
	if d := s.GetData(); d != nil {
		if raw, err := json.Marshal(d); err == nil {
			w.Data = raw
		}
	}
	return w
}

type request struct {
	ID   any                        `json:"id"`
	Op   string                     `json:"op"`
	Args map[string]json.RawMessage `json:"args"`
}

type reply struct {
	ID     any    `json:"id"`
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Error  *fault `json:"error,omitempty"`
}

type fault struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func str(args map[string]json.RawMessage, name string) (string, error) {
	var s string
	if err := json.Unmarshal(args[name], &s); err != nil {
		return "", fmt.Errorf("argument %s: %w", name, err)
	}
	return s, nil
}

func main() {
	prefix := flag.String("prefix", "thv:proxy:session:", "the RedisStorage key prefix")
	dataPrefix := flag.String("data-prefix", "thv:vmcp:session:", "the RedisSessionDataStorage key prefix")
	ttlMs := flag.Int64("ttl-ms", 7200000, "the RedisStorage TTL")
	dataTTLMs := flag.Int64("data-ttl-ms", 1800000, "the RedisSessionDataStorage TTL")
	cluster := flag.Bool("cluster", false, "the address is a Redis Cluster seed")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	ready := func(err error) {
		if err != nil {
			_ = out.Encode(map[string]any{"ready": false, "error": err.Error()})
			os.Exit(1)
		}
	}
	u, err := url.Parse(os.Getenv("REDIS_URL"))
	ready(err)
	cfg := tcredis.Config{Addr: u.Host, ClusterMode: *cluster}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	ctx := context.Background()
	st, err := session.NewRedisStorage(ctx, cfg, *prefix, time.Duration(*ttlMs)*time.Millisecond)
	ready(err)
	ds, err := session.NewRedisSessionDataStorage(ctx, cfg, *dataPrefix, time.Duration(*dataTTLMs)*time.Millisecond)
	ready(err)
	_ = out.Encode(map[string]any{"ready": true, "runtime": "go",
		"library": "github.com/stacklok/toolhive@v0.48.0 (" + goVersion() + ")"})
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(reply{ID: nil, Error: &fault{"BadRequest", err.Error()}})
			continue
		}
		result, err := run(ctx, st, ds, req)
		r := reply{ID: req.ID, OK: err == nil, Result: result}
		if err != nil {
			kind := "Error"
			if errors.Is(err, session.ErrSessionNotFound) {
				kind = "SessionNotFound"
			}
			r.Error = &fault{kind, err.Error()}
		}
		_ = out.Encode(r)
	}
	_ = st.Close()
	_ = ds.Close()
}

func run(ctx context.Context, st *session.RedisStorage, ds *session.RedisSessionDataStorage, req request) (any, error) {
	switch req.Op {
	case "session.store":
		var w wire
		if err := json.Unmarshal(req.Args["session"], &w); err != nil {
			return nil, err
		}
		s, err := fromWire(w)
		if err != nil {
			return nil, err
		}
		return nil, st.Store(ctx, s)
	case "session.load", "session.delete", "session.data_load", "session.data_delete":
		id, err := str(req.Args, "id")
		if err != nil {
			return nil, err
		}
		switch req.Op {
		case "session.load":
			s, err := st.Load(ctx, id)
			if err != nil {
				return nil, err
			}
			return toWire(s), nil
		case "session.delete":
			return nil, st.Delete(ctx, id)
		case "session.data_load":
			return ds.Load(ctx, id)
		default:
			return nil, ds.Delete(ctx, id)
		}
	case "session.data_create", "session.data_update":
		id, err := str(req.Args, "id")
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal(req.Args["data"], &m); err != nil {
			return nil, err
		}
		if req.Op == "session.data_create" {
			return ds.Create(ctx, id, m)
		}
		return ds.Update(ctx, id, m)
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}
