// Package sessiondriver is what the Go drivers of the session interop checks share
// (interop/CONTRACT.md, "Go drivers"): the command line, the JSON lines protocol, and a Session
// type holding exactly the caller's values. Each driver (one module per toolhive release) makes
// the real stores of its release and hands them over; the operations a release lacks answer
// "Unsupported".
package sessiondriver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/stacklok/toolhive/pkg/transport/session"
)

// Options: the command line and REDIS_URL (whose password is never printed).
type Options struct {
	Addr, Username, Password string
	Cluster                  bool
	Prefix, DataPrefix       string
	TTL, DataTTL             time.Duration
}

// Parse reads the flags and REDIS_URL; a failure is the ready line's error.
func Parse() Options {
	prefix := flag.String("prefix", "thv:proxy:session:", "the RedisStorage key prefix")
	dataPrefix := flag.String("data-prefix", "thv:vmcp:session:", "the RedisSessionDataStorage key prefix")
	ttlMs := flag.Int64("ttl-ms", 7200000, "the RedisStorage TTL")
	dataTTLMs := flag.Int64("data-ttl-ms", 1800000, "the RedisSessionDataStorage TTL")
	cluster := flag.Bool("cluster", false, "the address is a Redis Cluster seed")
	flag.Parse()
	u, err := url.Parse(os.Getenv("REDIS_URL"))
	Ready(err)
	o := Options{Addr: u.Host, Cluster: *cluster, Prefix: *prefix, DataPrefix: *dataPrefix,
		TTL: time.Duration(*ttlMs) * time.Millisecond, DataTTL: time.Duration(*dataTTLMs) * time.Millisecond}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	return o
}

var out = json.NewEncoder(os.Stdout)

// Ready ends the driver with {"ready": false, "error"} when err is not nil.
func Ready(err error) {
	if err != nil {
		_ = out.Encode(map[string]any{"ready": false, "error": err.Error()})
		os.Exit(1)
	}
}

// Storage is RedisStorage's part every release has; Owned the v0.55.1+ operations.
type Storage interface {
	Store(ctx context.Context, s session.Session) error
	Load(ctx context.Context, id string) (session.Session, error)
	Delete(ctx context.Context, id string) error
	Close() error
}

type Owned interface {
	Create(ctx context.Context, s session.Session) error
	LoadMetadata(ctx context.Context, id string) (map[string]string, error)
	LoadIfOwner(ctx context.Context, id, owner string) (session.Session, error)
	StoreIfOwner(ctx context.Context, s session.Session, owner string) (bool, error)
	DeleteIfOwner(ctx context.Context, id, owner string) (bool, error)
}

type DataStorage interface {
	Create(ctx context.Context, id string, m map[string]string) (bool, error)
	Update(ctx context.Context, id string, m map[string]string) (bool, error)
	Load(ctx context.Context, id string) (map[string]string, error)
	Delete(ctx context.Context, id string) error
	Close() error
}

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

func fromWire(raw json.RawMessage) (*sess, error) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
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

var errUnsupported = errors.New("not in this toolhive release")

// Serve prints the ready line and answers requests until stdin closes.
func Serve(library string, st Storage, ds DataStorage) {
	_ = out.Encode(map[string]any{"ready": true, "runtime": "go", "library": library + " (" + runtime.Version() + ")"})
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(reply{Error: &fault{"BadRequest", err.Error()}})
			continue
		}
		result, err := run(ctx, st, ds, req)
		r := reply{ID: req.ID, OK: err == nil, Result: result}
		if err != nil {
			kind := "Error"
			switch {
			case errors.Is(err, errUnsupported):
				kind = "Unsupported"
			case errors.Is(err, session.ErrSessionNotFound):
				kind = "SessionNotFound"
			case err.Error() == "session already exists":
				kind = "SessionExists"
			}
			r.Error = &fault{kind, err.Error()}
		}
		_ = out.Encode(r)
	}
	_ = st.Close()
	_ = ds.Close()
}

func str(args map[string]json.RawMessage, name string) string {
	var s string
	_ = json.Unmarshal(args[name], &s)
	return s
}

func run(ctx context.Context, st Storage, ds DataStorage, req request) (any, error) {
	a := req.Args
	owned, hasOwned := st.(Owned)
	switch req.Op {
	case "session.store", "session.create", "session.store_if_owner":
		s, err := fromWire(a["session"])
		if err != nil {
			return nil, err
		}
		switch {
		case req.Op == "session.store":
			return nil, st.Store(ctx, s)
		case !hasOwned:
			return nil, errUnsupported
		case req.Op == "session.create":
			return nil, owned.Create(ctx, s)
		default:
			return owned.StoreIfOwner(ctx, s, str(a, "owner"))
		}
	case "session.load":
		s, err := st.Load(ctx, str(a, "id"))
		if err != nil {
			return nil, err
		}
		return toWire(s), nil
	case "session.delete":
		return nil, st.Delete(ctx, str(a, "id"))
	case "session.load_metadata", "session.load_if_owner", "session.delete_if_owner":
		if !hasOwned {
			return nil, errUnsupported
		}
		switch req.Op {
		case "session.load_metadata":
			return owned.LoadMetadata(ctx, str(a, "id"))
		case "session.load_if_owner":
			s, err := owned.LoadIfOwner(ctx, str(a, "id"), str(a, "owner"))
			if err != nil {
				return nil, err
			}
			return toWire(s), nil
		default:
			return owned.DeleteIfOwner(ctx, str(a, "id"), str(a, "owner"))
		}
	case "session.data_create", "session.data_update":
		var m map[string]string
		if err := json.Unmarshal(a["data"], &m); err != nil {
			return nil, err
		}
		if req.Op == "session.data_create" {
			return ds.Create(ctx, str(a, "id"), m)
		}
		return ds.Update(ctx, str(a, "id"), m)
	case "session.data_load":
		return ds.Load(ctx, str(a, "id"))
	case "session.data_delete":
		return nil, ds.Delete(ctx, str(a, "id"))
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}
