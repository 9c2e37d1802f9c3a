// Package session holds toolhive's session record as pkg/transport/session declares it
// (serialization.go: the sessionData struct and what deserializeSession keeps), so that the
// standard library's encoding/json, the thing under comparison, reads and writes it with the
// same type names in its messages ("session.sessionData", "session.SessionType").
package session

import (
	"encoding/json"
	"errors"
	"time"
)

type SessionType string

type sessionData struct {
	ID        string            `json:"id"`
	Type      SessionType       `json:"type"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Data      json.RawMessage   `json:"data,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// Session is what a reader hands back.
type Session struct {
	ID, Type             string
	CreatedAt, UpdatedAt time.Time
	Data                 []byte // nil: none
	Metadata             map[string]string
}

// Read is deserializeSession without the wrapping of its errors: empty text refused, then
// json.Unmarshal into sessionData; a streamable session keeps no data, empty data is none.
func Read(b []byte) (*Session, error) {
	if len(b) == 0 {
		return nil, errors.New("cannot deserialize empty data")
	}
	var sd sessionData
	if err := json.Unmarshal(b, &sd); err != nil {
		return nil, err
	}
	s := &Session{ID: sd.ID, Type: string(sd.Type), CreatedAt: sd.CreatedAt, UpdatedAt: sd.UpdatedAt, Metadata: sd.Metadata}
	if len(sd.Data) > 0 && sd.Type != "streamable" {
		s.Data = sd.Data
	}
	return s, nil
}

// Write is json.Marshal of sessionData (serializeSession with the data already raw JSON).
func Write(s *Session) ([]byte, error) {
	sd := sessionData{ID: s.ID, Type: SessionType(s.Type), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Metadata: s.Metadata}
	if s.Data != nil {
		sd.Data = json.RawMessage(s.Data)
	}
	return json.Marshal(sd)
}
