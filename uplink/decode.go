package uplink

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/linestation/linestation/station"
)

// What the central service receives is decoded with the JSON v2
// implementation (github.com/go-json-experiment/json, the code of Go's
// encoding/json/v2), not encoding/json: it reads a station's batch about
// three times as fast with less than half the garbage, which the central
// feels, as it decodes the batches of every station. It is also stricter,
// which suits a protocol with one client: member names match exactly, a
// member may not repeat, strings must be valid UTF-8. Durations are
// integer nanoseconds, as encoding/json writes them.
var strict = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true), jsonv1.FormatDurationAsNano(true))

// Unmarshal decodes raw, one JSON value and nothing after it, into v
// strictly: no unknown, repeated or differently cased member names. Its
// errors are *json.SemanticError or *jsontext.SyntacticError of
// github.com/go-json-experiment/json, which say where (a JSON pointer and a
// byte offset).
func Unmarshal(raw []byte, v any) error {
	return jsonv2.Unmarshal(raw, v, strict)
}

// DecodePayload parses and validates a journal event's payload as
// station.DecodePayload does, and returns what it returns, faster. A
// journal payload is the canonical encoding of its struct, which the strict
// decoder reads; anything else (valid for encoding/json but not for it)
// goes to station.DecodePayload, so that what is accepted, and the error
// when it is not, stay station.DecodePayload's.
func DecodePayload(t station.EventType, raw []byte) (station.Payload, error) {
	p, err := station.NewPayload(t)
	if err != nil {
		return nil, err
	}
	if Unmarshal(raw, p) != nil {
		return station.DecodePayload(t, raw)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
