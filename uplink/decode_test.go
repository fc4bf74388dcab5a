package uplink_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// goldenSamples are the station package's golden events: one of every
// event type, with its canonical payload and its wire JSON as
// encoding/json writes them.
func goldenSamples(t testing.TB) []struct {
	Type    station.EventType `json:"type"`
	Payload string            `json:"payload"`
	Wire    string            `json:"wire"`
} {
	b, err := os.ReadFile("../station/testdata/events.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var samples []struct {
		Type    station.EventType `json:"type"`
		Payload string            `json:"payload"`
		Wire    string            `json:"wire"`
	}
	if err := json.Unmarshal(b, &samples); err != nil {
		t.Fatal(err)
	}
	if len(samples) < len(station.EventTypes()) {
		t.Fatalf("%d golden samples for %d event types", len(samples), len(station.EventTypes()))
	}
	return samples
}

// TestDecode_SameAsEncodingJSON: the strict decoder the central uses reads
// every event type's payload, and every event as stations send it, to
// exactly what encoding/json and station.DecodePayload read.
func TestDecode_SameAsEncodingJSON(t *testing.T) {
	for _, s := range goldenSamples(t) {
		want, err := station.DecodePayload(s.Type, []byte(s.Payload))
		if err != nil {
			t.Fatalf("%s: station.DecodePayload: %v", s.Type, err)
		}
		got, err := uplink.DecodePayload(s.Type, []byte(s.Payload))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: uplink.DecodePayload = %+v, %v; want %+v", s.Type, got, err, want)
		}
		var evWant, evGot station.Event
		if err := json.Unmarshal([]byte(s.Wire), &evWant); err != nil {
			t.Fatal(err)
		}
		if err := uplink.Unmarshal([]byte(s.Wire), &evGot); err != nil || !reflect.DeepEqual(evGot, evWant) {
			t.Errorf("%s: uplink.Unmarshal = %+v, %v; want %+v", s.Type, evGot, err, evWant)
		}
		if evGot.ComputeHash() != evGot.Hash {
			t.Errorf("%s: the event decoded by uplink.Unmarshal no longer has its hash", s.Type)
		}
	}
}

// TestDecodePayload_Lenient: a payload only encoding/json reads (another
// key case) is still read as station.DecodePayload reads it, and what
// neither reads gets station.DecodePayload's error.
func TestDecodePayload_Lenient(t *testing.T) {
	raw := []byte(`{"GTIN":"00300010123455","Serial":"A","reason":"low_grade","device":"cam"}`)
	want, err := station.DecodePayload(station.EventUnitRejected, raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := uplink.DecodePayload(station.EventUnitRejected, raw)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("uplink.DecodePayload = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{`{"gtin":14}`, `{"gtin":"00300010123455","serial":"A","reason":"low_grade","device":"cam","x":1}`, `{}`, `{} {}`} {
		_, werr := station.DecodePayload(station.EventUnitRejected, []byte(bad))
		_, gerr := uplink.DecodePayload(station.EventUnitRejected, []byte(bad))
		if werr == nil || gerr == nil || gerr.Error() != werr.Error() {
			t.Errorf("%s: uplink.DecodePayload error %v, want station.DecodePayload's %v", bad, gerr, werr)
		}
	}
}

// FuzzDecodePayload: whatever the bytes, uplink.DecodePayload accepts what
// station.DecodePayload accepts, decodes it to the same value and refuses
// with the same error.
func FuzzDecodePayload(f *testing.F) {
	types := station.EventTypes()
	for _, s := range goldenSamples(f) {
		for i, typ := range types {
			if typ == s.Type {
				f.Add(uint8(i), []byte(s.Payload))
			}
		}
	}
	f.Fuzz(func(t *testing.T, ti uint8, raw []byte) {
		typ := types[int(ti)%len(types)]
		want, werr := station.DecodePayload(typ, raw)
		got, gerr := uplink.DecodePayload(typ, raw)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s %q: station.DecodePayload error %v, uplink.DecodePayload error %v", typ, raw, werr, gerr)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Fatalf("%s %q: error %q, want %q", typ, raw, gerr, werr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %q: decoded %+v, want %+v", typ, raw, got, want)
		}
	})
}
