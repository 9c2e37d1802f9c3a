// The Go oracle of tests/unit/test_session_record.c: Go's encoding/json reading and writing
// toolhive's session record and map, one request per line on stdin, one answer per line:
//
//	R <base64 text>   read a record   -> OK <id> <type> <created> <updated> <data|-> <metadata|nil>
//	M <base64 text>   read a map      -> OK <metadata|nil>
//	W <id> <type> <created> <updated> <data|-> <metadata>   write a record -> OK <base64 bytes>
//	WM <metadata>     write a map     -> OK <base64 bytes>
//
// or ERR <Go's error text, base64>. Byte strings are base64; a time is "<unix s>,<ns>,<offset s>";
// metadata is "-" (none) or k:v pairs of base64, comma-separated, sorted by key.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"crossredis.test/sessionoracle/session"
)

var b64 = base64.StdEncoding

func fromB64(s string) string {
	d, err := b64.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return string(d)
}

func timeOf(s string) time.Time {
	p := strings.Split(s, ",")
	sec, _ := strconv.ParseInt(p[0], 10, 64)
	ns, _ := strconv.ParseInt(p[1], 10, 64)
	off, _ := strconv.Atoi(p[2])
	return time.Unix(sec, ns).In(time.FixedZone("", off))
}

func timeText(t time.Time) string {
	_, off := t.Zone()
	return fmt.Sprintf("%d,%d,%d", t.Unix(), t.Nanosecond(), off)
}

func metaText(m map[string]string) string {
	if m == nil {
		return "nil"
	}
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = b64.EncodeToString([]byte(k)) + ":" + b64.EncodeToString([]byte(m[k]))
	}
	return strings.Join(parts, ",")
}

func metaOf(s string) map[string]string {
	if s == "-" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, ":")
		m[fromB64(k)] = fromB64(v)
	}
	return m
}

// errText is Go's error text, base64, with one change: a NUL byte (a map key's, in json/v2's path)
// as the four characters \x00, since crossredis's messages are C strings.
func errText(err error) string {
	return b64.EncodeToString([]byte(strings.ReplaceAll(err.Error(), "\x00", `\x00`)))
}

func answer(line string) string {
	f := strings.Split(line, " ")
	switch f[0] {
	case "R":
		s, err := session.Read([]byte(fromB64(f[1])))
		if err != nil {
			return "ERR " + errText(err)
		}
		data := "-"
		if s.Data != nil {
			data = b64.EncodeToString(s.Data)
		}
		return fmt.Sprintf("OK %s %s %s %s %s %s", b64.EncodeToString([]byte(s.ID)), b64.EncodeToString([]byte(s.Type)),
			timeText(s.CreatedAt), timeText(s.UpdatedAt), data, metaText(s.Metadata))
	case "M":
		var m map[string]string
		if err := json.Unmarshal([]byte(fromB64(f[1])), &m); err != nil {
			return "ERR " + errText(err)
		}
		return "OK " + metaText(m)
	case "W":
		s := &session.Session{ID: fromB64(f[1]), Type: fromB64(f[2]), CreatedAt: timeOf(f[3]), UpdatedAt: timeOf(f[4]),
			Metadata: metaOf(f[6])}
		if f[5] != "-" {
			s.Data = []byte(fromB64(f[5]))
		}
		out, err := session.Write(s)
		if err != nil {
			return "ERR " + errText(err)
		}
		return "OK " + b64.EncodeToString(out)
	case "WM":
		m := metaOf(f[1])
		if m == nil {
			m = map[string]string{}
		}
		out, err := json.Marshal(m)
		if err != nil {
			return "ERR " + errText(err)
		}
		return "OK " + b64.EncodeToString(out)
	}
	return "ERR unknown request " + f[0]
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		fmt.Fprintln(out, answer(in.Text()))
	}
}
