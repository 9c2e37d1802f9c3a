package sessiondriver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Target is the deployment a URL names, in the terms toolhive's Redis configuration takes.
type Target struct {
	Kind               string   // "standalone", "cluster" or "sentinel"
	Addrs              []string // the server; the Cluster seeds; the sentinels
	Master             string   // Sentinel's master name
	Username, Password string
	DB                 int
	TLS                bool
}

// ParseURL reads crossredis's URLs (README, "URLs"):
//
//	redis://[user:password@]host:port[/db]                       a standalone server
//	redis+cluster://[user:password@]host:port,host:port,...      a Redis Cluster, by its seeds
//	redis+sentinel://[user:password@]host:port,.../master[/db]  a Sentinel set
//
// and rediss, rediss+cluster, rediss+sentinel for TLS (system roots, or SSL_CERT_FILE). A host
// without a port is on 6379 (26379 for a sentinel). Its errors never hold the password.
func ParseURL(raw string) (Target, error) {
	var t Target
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return t, errors.New("the URL has no scheme (redis://, redis+cluster://, redis+sentinel://)")
	}
	base, tls := strings.CutPrefix(scheme, "rediss")
	if !tls {
		base, _ = strings.CutPrefix(scheme, "redis")
	}
	t.TLS = tls
	defaultPort := "6379"
	switch base {
	case "":
		t.Kind = "standalone"
	case "+cluster":
		t.Kind = "cluster"
	case "+sentinel":
		t.Kind, defaultPort = "sentinel", "26379"
	default:
		return t, fmt.Errorf("unsupported URL scheme %q (redis, redis+cluster, redis+sentinel; rediss for TLS)", scheme)
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		user, password, hasPassword := strings.Cut(authority[:i], ":")
		authority = authority[i+1:]
		var err error
		if t.Username, err = url.PathUnescape(user); err != nil {
			return t, errors.New("the URL's user name has a bad %-escape")
		}
		if hasPassword {
			if t.Password, err = url.PathUnescape(password); err != nil {
				return t, errors.New("the URL's password has a bad %-escape")
			}
		}
	}
	for _, hp := range strings.Split(authority, ",") {
		if hp == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(strings.Trim(hp, "[]"), defaultPort)
		}
		if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
			return t, fmt.Errorf("bad host %q in the URL", hp)
		}
		t.Addrs = append(t.Addrs, hp)
	}
	if len(t.Addrs) == 0 {
		return t, errors.New("the URL names no host")
	}
	if t.Kind != "cluster" && t.Kind != "sentinel" && len(t.Addrs) > 1 {
		return t, fmt.Errorf("a %s URL names one host (redis+cluster:// or redis+sentinel:// for several)", scheme)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	if t.Kind == "sentinel" {
		if len(parts) == 0 {
			return t, errors.New("a redis+sentinel URL needs the master's name: redis+sentinel://host:port,.../master[/db]")
		}
		t.Master, parts = parts[0], parts[1:]
	}
	switch {
	case len(parts) == 1 && t.Kind != "cluster":
		db, err := strconv.Atoi(parts[0])
		if err != nil || db < 0 {
			return t, fmt.Errorf("bad database number %q in the URL", parts[0])
		}
		t.DB = db
	case len(parts) > 0:
		return t, fmt.Errorf("unexpected path /%s in the URL", strings.Join(parts, "/"))
	}
	return t, nil
}
