// Package sessiondriver is what the Go drivers of the session interop checks share
// (interop/CONTRACT.md, "Go drivers"): the command line and REDIS_URL, the JSON lines protocol,
// and a Session type holding exactly the caller's values. Each driver (one module per toolhive
// release) opens the real stores of its release from Options; an operation whose method the
// release's store lacks answers "Unsupported".
package sessiondriver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/stacklok/toolhive/pkg/transport/session"
)

// Options: the command line and the URL (whose password is never printed).
type Options struct {
	Impl               string
	Target             Target
	Prefix, DataPrefix string
	TTL, DataTTL       time.Duration
}

// Storage is RedisStorage's part every release has; the others are asserted per operation.
type Storage interface {
	Store(ctx context.Context, s session.Session) error
	Load(ctx context.Context, id string) (session.Session, error)
	Delete(ctx context.Context, id string) error
	DeleteExpired(ctx context.Context, before time.Time) error
	Close() error
}

// DataStorage is RedisSessionDataStorage's part every release has.
type DataStorage interface {
	Create(ctx context.Context, id string, m map[string]string) (bool, error)
	Update(ctx context.Context, id string, m map[string]string) (bool, error)
	Load(ctx context.Context, id string) (map[string]string, error)
	Delete(ctx context.Context, id string) error
	Close() error
}

// The v0.55.1+ ownership operations of RedisStorage, one interface each (a release has a method
// or not; the driver never decides by version number).
type (
	creator interface {
		Create(context.Context, session.Session) error
	}
	metadataLoader interface {
		LoadMetadata(context.Context, string) (map[string]string, error)
	}
	ownerLoader interface {
		LoadIfOwner(context.Context, string, string) (session.Session, error)
	}
	ownerStorer interface {
		StoreIfOwner(context.Context, session.Session, string) (bool, error)
	}
	ownerDeleter interface {
		DeleteIfOwner(context.Context, string, string) (bool, error)
	}
)

// Opener makes a release's real stores from the options (toolhive's constructors connect and
// ping); its error is the ready line's.
type Opener func(ctx context.Context, o Options) (Storage, DataStorage, error)

// Open is an Opener's body for a release whose constructors take a configuration of type C:
// NewRedisStorage(ctx, cfg, prefix, ttl) and NewRedisSessionDataStorage(ctx, cfg, prefix, ttl).
func Open[C any, S Storage, D DataStorage](ctx context.Context, o Options, cfg C,
	newStorage func(context.Context, C, string, time.Duration) (S, error),
	newDataStorage func(context.Context, C, string, time.Duration) (D, error)) (Storage, DataStorage, error) {
	st, err := newStorage(ctx, cfg, o.Prefix, o.TTL)
	if err != nil {
		return nil, nil, err
	}
	ds, err := newDataStorage(ctx, cfg, o.DataPrefix, o.DataTTL)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return st, ds, nil
}

// Main runs a driver: the options, the stores, the ready line, then the requests until stdin
// closes. Exit status 1 when the driver could not start.
func Main(defaultImpl string, open Opener) {
	o, err := parse(defaultImpl, os.Args[1:])
	if err != nil {
		ready(out, o, err)
		os.Exit(1)
	}
	ctx := context.Background()
	st, ds, err := open(ctx, o)
	if err != nil {
		ready(out, o, err)
		os.Exit(1)
	}
	ready(out, o, nil)
	serve(ctx, bufio.NewReader(os.Stdin), out, o.Target.Password, operations(st, ds))
	_ = st.Close()
	_ = ds.Close()
}

var out = bufio.NewWriter(os.Stdout)

func parse(defaultImpl string, args []string) (Options, error) {
	fs := flag.NewFlagSet("driver", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	impl := fs.String("impl", defaultImpl, "the implementation's name in the ready line")
	url := fs.String("url", "", "the server (default: $REDIS_URL)")
	prefix := fs.String("prefix", "thv:proxy:session:", "RedisStorage's key prefix")
	dataPrefix := fs.String("data-prefix", "thv:vmcp:session:", "RedisSessionDataStorage's key prefix")
	ttlMs := fs.Int64("ttl-ms", session.DefaultSessionTTL.Milliseconds(), "RedisStorage's TTL")
	dataTTLMs := fs.Int64("data-ttl-ms", (30 * time.Minute).Milliseconds(), "RedisSessionDataStorage's TTL")
	o := Options{Impl: defaultImpl}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o = Options{Impl: *impl, Prefix: *prefix, DataPrefix: *dataPrefix,
		TTL: time.Duration(*ttlMs) * time.Millisecond, DataTTL: time.Duration(*dataTTLMs) * time.Millisecond}
	raw := *url
	if raw == "" {
		raw = os.Getenv("REDIS_URL")
	}
	if raw == "" {
		return o, errors.New("no server: set REDIS_URL (or --url)")
	}
	t, err := ParseURL(raw)
	o.Target = t
	return o, err
}

// library names the module under test as the binary was built: "github.com/stacklok/toolhive@v0.66.0
// (go1.27.0, go-redis v9.23.0)".
func library() string {
	toolhive, goredis := "github.com/stacklok/toolhive@?", "go-redis ?"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/stacklok/toolhive":
				toolhive = d.Path + "@" + d.Version
			case "github.com/redis/go-redis/v9":
				goredis = "go-redis " + d.Version
			}
		}
	}
	return fmt.Sprintf("%s (%s, %s)", toolhive, runtime.Version(), goredis)
}

type readyLine struct {
	Ready   bool   `json:"ready"`
	Impl    string `json:"impl,omitempty"`
	Runtime string `json:"runtime,omitempty"`
	Library string `json:"library,omitempty"`
	Error   string `json:"error,omitempty"`
}

func ready(w *bufio.Writer, o Options, err error) {
	r := readyLine{Ready: true, Impl: o.Impl, Runtime: "go", Library: library()}
	if err != nil {
		r = readyLine{Error: scrub(err.Error(), o.Target.Password)}
	}
	write(w, r)
}

func write(w *bufio.Writer, v any) {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)
	_ = w.Flush()
}

// scrub keeps a password out of what the driver prints (go-redis never puts one in an error;
// this holds whatever a library does).
func scrub(text, password string) string {
	if password == "" {
		return text
	}
	return strings.ReplaceAll(text, password, "***")
}

// ---- requests -------------------------------------------------------------------------------

type request struct {
	ID   json.RawMessage            `json:"id"`
	Op   string                     `json:"op"`
	Args map[string]json.RawMessage `json:"args"`
}

type okReply struct {
	ID     json.RawMessage `json:"id"`
	OK     bool            `json:"ok"`
	Result any             `json:"result"`
}

type errReply struct {
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Error fault           `json:"error"`
}

type fault struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// driverError is a request the driver refuses before any library call (kind BadRequest,
// UnknownOp, Unsupported).
type driverError struct{ kind, msg string }

func (e *driverError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &driverError{"BadRequest", fmt.Sprintf(format, a...)}
}

var null = json.RawMessage("null")

func serve(ctx context.Context, in *bufio.Reader, w *bufio.Writer, password string, ops map[string]operation) {
	for {
		line, err := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			write(w, answer(ctx, line, password, ops))
		}
		if err != nil {
			return
		}
	}
}

func answer(ctx context.Context, line []byte, password string, ops map[string]operation) (reply any) {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return errReply{null, false, fault{"BadRequest", "not a JSON request: " + err.Error()}}
	}
	id := req.ID
	if len(id) == 0 {
		id = null
	}
	defer func() { // a library that panics is an error of this request, not the driver's end
		if p := recover(); p != nil {
			reply = errReply{id, false, fault{"Error", scrub(fmt.Sprintf("panic: %v", p), password)}}
		}
	}()
	result, err := run(ctx, ops, req)
	if err != nil {
		kind := "Error"
		var de *driverError
		switch {
		case errors.As(err, &de):
			kind = de.kind
		case errors.Is(err, session.ErrSessionNotFound):
			kind = "SessionNotFound"
		case errors.Is(err, session.ErrSessionAlreadyExists):
			kind = "SessionExists"
		}
		return errReply{id, false, fault{kind, scrub(err.Error(), password)}}
	}
	return okReply{id, true, result}
}

// operation is one request's work: its arguments by session.def's names (their kind follows from
// the name: args.value) and the library call.
type operation struct {
	args []string
	call func(ctx context.Context, v []any) (any, error)
}

// optional: the operations a release may lack, and the method each needs.
var optional = map[string]string{
	"session.create":             "RedisStorage.Create",
	"session.load_metadata":      "RedisStorage.LoadMetadata",
	"session.load_if_owner":      "RedisStorage.LoadIfOwner",
	"session.store_if_owner":     "RedisStorage.StoreIfOwner",
	"session.delete_if_owner":    "RedisStorage.DeleteIfOwner",
	"session.data_load_metadata": "RedisSessionDataStorage.LoadMetadata",
}

func none(err error) (any, error) { return nil, err }

// operations: what the release's stores have.
func operations(st Storage, ds DataStorage) map[string]operation {
	ops := map[string]operation{
		"session.store": {[]string{"session_json"}, func(ctx context.Context, v []any) (any, error) {
			return none(st.Store(ctx, v[0].(session.Session)))
		}},
		"session.load": {[]string{"id"}, func(ctx context.Context, v []any) (any, error) {
			return wireOf(st.Load(ctx, v[0].(string)))
		}},
		"session.delete": {[]string{"id"}, func(ctx context.Context, v []any) (any, error) {
			return none(st.Delete(ctx, v[0].(string)))
		}},
		"session.delete_expired": {[]string{"before"}, func(ctx context.Context, v []any) (any, error) {
			return none(st.DeleteExpired(ctx, v[0].(time.Time)))
		}},
		"session.data_create": {[]string{"id", "data_json"}, func(ctx context.Context, v []any) (any, error) {
			return ds.Create(ctx, v[0].(string), v[1].(map[string]string))
		}},
		"session.data_update": {[]string{"id", "data_json"}, func(ctx context.Context, v []any) (any, error) {
			return ds.Update(ctx, v[0].(string), v[1].(map[string]string))
		}},
		"session.data_load": {[]string{"id"}, func(ctx context.Context, v []any) (any, error) {
			return ds.Load(ctx, v[0].(string))
		}},
		"session.data_delete": {[]string{"id"}, func(ctx context.Context, v []any) (any, error) {
			return none(ds.Delete(ctx, v[0].(string)))
		}},
	}
	if c, ok := st.(creator); ok {
		ops["session.create"] = operation{[]string{"session_json"}, func(ctx context.Context, v []any) (any, error) {
			return none(c.Create(ctx, v[0].(session.Session)))
		}}
	}
	if m, ok := st.(metadataLoader); ok {
		ops["session.load_metadata"] = operation{[]string{"id"}, func(ctx context.Context, v []any) (any, error) {
			return m.LoadMetadata(ctx, v[0].(string))
		}}
	}
	if l, ok := st.(ownerLoader); ok {
		ops["session.load_if_owner"] = operation{[]string{"id", "owner"}, func(ctx context.Context, v []any) (any, error) {
			return wireOf(l.LoadIfOwner(ctx, v[0].(string), v[1].(string)))
		}}
	}
	if s, ok := st.(ownerStorer); ok {
		ops["session.store_if_owner"] = operation{[]string{"session_json", "owner"},
			func(ctx context.Context, v []any) (any, error) {
				return s.StoreIfOwner(ctx, v[0].(session.Session), v[1].(string))
			}}
	}
	if d, ok := st.(ownerDeleter); ok {
		ops["session.delete_if_owner"] = operation{[]string{"id", "owner"}, func(ctx context.Context, v []any) (any, error) {
			return d.DeleteIfOwner(ctx, v[0].(string), v[1].(string))
		}}
	}
	if m, ok := ds.(metadataLoader); ok {
		ops["session.data_load_metadata"] = operation{[]string{"id"}, func(ctx context.Context, v []any) (any, error) {
			return m.LoadMetadata(ctx, v[0].(string))
		}}
	}
	return ops
}

func run(ctx context.Context, ops map[string]operation, req request) (any, error) {
	op, ok := ops[req.Op]
	if !ok {
		if method, known := optional[req.Op]; known {
			return nil, &driverError{"Unsupported", fmt.Sprintf("%s: this toolhive release has no %s", req.Op, method)}
		}
		return nil, &driverError{"UnknownOp", fmt.Sprintf("unknown op %q", req.Op)}
	}
	a := args{req.Op, req.Args}
	v := make([]any, len(op.args))
	for i, name := range op.args {
		var err error
		if v[i], err = a.value(name); err != nil {
			return nil, err
		}
	}
	return op.call(ctx, v)
}

// ---- arguments ------------------------------------------------------------------------------

type args struct {
	op string
	m  map[string]json.RawMessage
}

// value reads an argument by its kind, which its name tells (session.def's names).
func (a args) value(name string) (any, error) {
	switch name {
	case "session_json":
		return a.session(name)
	case "data_json":
		return a.stringMap(name)
	case "before":
		return a.time(name)
	}
	return a.text(name)
}

func (a args) text(name string) (string, error) {
	raw, ok := a.m[name]
	var s string
	if !ok || json.Unmarshal(raw, &s) != nil || string(raw) == "null" {
		return "", badRequest("%s: argument %q must be a string", a.op, name)
	}
	return s, nil
}

func (a args) time(name string) (time.Time, error) {
	s, err := a.text(name)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("%s: %s: %v", a.op, name, err)
	}
	return t, nil
}

// jsonArg: a JSON argument, given as the JSON value itself or as a string holding its text.
func (a args) jsonArg(name string) (json.RawMessage, error) {
	raw, ok := a.m[name]
	if !ok {
		return nil, badRequest("%s: argument %q is missing", a.op, name)
	}
	var text string
	if json.Unmarshal(raw, &text) == nil && string(raw) != "null" {
		raw = json.RawMessage(text)
	}
	return raw, nil
}

func (a args) stringMap(name string) (map[string]string, error) {
	raw, err := a.jsonArg(name)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, badRequest("%s: %s must be a JSON object of strings: %v", a.op, name, err)
	}
	return m, nil
}

func (a args) session(name string) (session.Session, error) {
	raw, err := a.jsonArg(name)
	if err != nil {
		return nil, err
	}
	s, err := fromWire(raw)
	if err != nil {
		return nil, badRequest("%s: %s: %v", a.op, name, err)
	}
	return s, nil
}

// ---- sessions -------------------------------------------------------------------------------

// sess is a session with exactly the caller's values. toolhive's constructors stamp time.Now()
// and its setters of times are unexported, but its serializer reads a session only through the
// Session interface (ID, Type, CreatedAt, UpdatedAt, GetData, GetMetadata): so the record
// toolhive writes for a sess is the one it writes for its own type holding the same values.
type sess struct {
	id, typ          string
	created, updated time.Time
	data             json.RawMessage // nil: none; the raw JSON as given (toolhive keeps what it loads so)
	meta             map[string]string
}

func (s *sess) ID() string                { return s.id }
func (s *sess) Type() session.SessionType { return session.SessionType(s.typ) }
func (s *sess) CreatedAt() time.Time      { return s.created }
func (s *sess) UpdatedAt() time.Time      { return s.updated }

// GetData: none for a streamable session, whatever it was given, as toolhive's StreamableSession
// (whose GetData is always nil).
func (s *sess) GetData() interface{} {
	if s.data == nil || s.typ == string(session.SessionTypeStreamable) {
		return nil
	}
	return s.data
}
func (s *sess) SetData(d interface{}) { s.data, _ = d.(json.RawMessage) }
func (s *sess) GetMetadata() map[string]string {
	return s.meta
}
func (s *sess) GetMetadataValue(k string) (string, bool) { v, ok := s.meta[k]; return v, ok }
func (s *sess) SetMetadata(k, v string) {
	if s.meta == nil {
		s.meta = map[string]string{}
	}
	s.meta[k] = v
}

type wireIn struct {
	ID        *string           `json:"id"`
	Type      *string           `json:"type"`
	CreatedAt *string           `json:"created_at"`
	UpdatedAt *string           `json:"updated_at"`
	Data      json.RawMessage   `json:"data"`
	Metadata  map[string]string `json:"metadata"`
}

// fromWire: id, type, created_at and updated_at are required; times are RFC 3339 (nanoseconds and
// the offset kept: time.Parse gives a fixed zone); "data" absent is none, "data": null is the
// JSON null toolhive keeps when it loads one; "metadata" null or absent is none.
func fromWire(raw json.RawMessage) (*sess, error) {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	var w wireIn
	if err := d.Decode(&w); err != nil {
		return nil, err
	}
	if w.ID == nil || w.Type == nil || w.CreatedAt == nil || w.UpdatedAt == nil {
		return nil, errors.New(`a session needs "id", "type", "created_at" and "updated_at"`)
	}
	c, err := time.Parse(time.RFC3339Nano, *w.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("created_at: %w", err)
	}
	u, err := time.Parse(time.RFC3339Nano, *w.UpdatedAt)
	if err != nil {
		return nil, fmt.Errorf("updated_at: %w", err)
	}
	s := &sess{id: *w.ID, typ: *w.Type, created: c, updated: u, meta: w.Metadata}
	if len(w.Data) > 0 {
		s.data = w.Data
	}
	return s, nil
}

// wireOut is a session as the driver reports it: "data" only when the session holds data (null
// included, which toolhive keeps from a record's "data": null), "metadata" always an object.
type wireOut struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	CreatedAt string            `json:"created_at"`
	UpdatedAt string            `json:"updated_at"`
	Data      json.RawMessage   `json:"data,omitempty"`
	Metadata  map[string]string `json:"metadata"`
}

func wireOf(s session.Session, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	w := wireOut{ID: s.ID(), Type: string(s.Type()), CreatedAt: s.CreatedAt().Format(time.RFC3339Nano),
		UpdatedAt: s.UpdatedAt().Format(time.RFC3339Nano), Metadata: s.GetMetadata()}
	if d := s.GetData(); d != nil {
		raw, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("the loaded session's data: %w", err)
		}
		w.Data = raw
	}
	if w.Metadata == nil {
		w.Metadata = map[string]string{}
	}
	return w, nil
}
