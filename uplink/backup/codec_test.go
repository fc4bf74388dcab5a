package backup

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/linestation/linestation/station"
)

func codecEvent() station.Event {
	ev := station.Event{
		Seq: 7, ID: "0195a3c0-0000-7000-8000-000000000007", Station: "line-1", Type: station.EventUnitVerified,
		Payload:     json.RawMessage(`{"gtin":"00300010123455","serial":"A\u003c1\u003e","device":"cam \"exit\"","read":"(01)00300010123455(21)A\u003c1\u003e","grade":"A"}`),
		Time:        time.Date(2026, 3, 1, 6, 0, 0, 120000000, time.UTC),
		ClockOffset: -1500 * time.Microsecond, ClockState: station.ClockDegraded,
		User: `Zoë "op" \ 1`, PrevHash: strings.Repeat("a", 64),
	}
	ev.Hash = ev.ComputeHash()
	return ev
}

// TestSegment_Encoding: the hand-written encoder writes what encoding/json
// reads back to the identical event, with the same fields encoding/json
// would write.
func TestSegment_Encoding(t *testing.T) {
	ev := codecEvent()
	line, err := appendEventJSON(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	var std bytes.Buffer
	enc := json.NewEncoder(&std)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&ev); err != nil {
		t.Fatal(err)
	}
	if string(line) != std.String() {
		t.Fatalf("line differs from encoding/json:\n got %s\nwant %s", line, std.String())
	}
	for _, key := range []*Key{nil, NewKey()} {
		evs := []station.Event{ev, ev}
		evs[1].Seq = 8
		data, d, err := encodeSegment(evs, key)
		if err != nil {
			t.Fatal(err)
		}
		if d.Size != int64(len(data)) {
			t.Fatalf("digest size %d, data %d bytes", d.Size, len(data))
		}
		got, err := decodeSegment(data, key)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(evs, got); diff != "" {
			t.Fatalf("segment round trip (key %v) differs:\n%s", key != nil, diff)
		}
		if got[0].ComputeHash() != ev.Hash {
			t.Fatal("the decoded event no longer matches its hash")
		}
	}
}

func TestSegment_DecodeRefusals(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	good, _, err := encodeSegment([]station.Event{codecEvent()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"NotGzip":      []byte(`{"seq":1}`),
		"Truncated":    good[:len(good)-5],
		"Trailing":     append(bytes.Clone(good), 0, 1, 2),
		"UnknownField": gz(`{"seq":1,"extra":true}` + "\n"),
		"NotJSON":      gz("seq 1\n"),
		"WrongType":    gz(`{"seq":"one"}` + "\n"),
		"Concatenated": append(bytes.Clone(good), good...),
	} {
		t.Run(name, func(t *testing.T) {
			if evs, err := decodeSegment(data, nil); err == nil {
				t.Fatalf("decoded %d events from a bad segment", len(evs))
			}
		})
	}
}

// FuzzSegment: any event with valid text fields survives the round trip,
// and decoding arbitrary bytes never panics.
func FuzzSegment(f *testing.F) {
	ev := codecEvent()
	f.Add(ev.ID, ev.User, string(ev.Type), `{"a":"<&>"}`, int64(7), []byte(nil))
	f.Add("\x00\x1f\"\\", "é\u2028", "x", `[1,2]`, int64(-1), []byte("\x1f\x8b garbage"))
	f.Add("x", "y", "z", `{"a":[1,{"b":"}],\\\""}],"c":null}`, int64(3), []byte(`{"seq":1,"id":"a","station":"s","type":"t","payload":{"x":1},"time":"2026-03-01T06:00:00Z","clock_offset_ns":0,"clock_state":"synced","user":"u","prev_hash":"p","hash":"h"}`+"\n"))
	f.Fuzz(func(t *testing.T, id, user, typ, payload string, seq int64, junk []byte) {
		_, _ = decodeSegment(junk, nil)
		// The line reader accepts only what encoding/json reads the same.
		if ev, _, err := parseEventLine(junk); err == nil {
			var std station.Event
			end := bytes.IndexByte(junk, '\n')
			if jerr := json.Unmarshal(junk[:end], &std); jerr != nil {
				t.Fatalf("the line reader accepted %q, encoding/json refuses it: %v", junk[:end], jerr)
			}
			if diff := cmp.Diff(std, ev); diff != "" {
				t.Fatalf("the line reader and encoding/json disagree on %q:\n%s", junk[:end], diff)
			}
		}
		if !json.Valid([]byte(payload)) {
			return
		}
		if !utf8.ValidString(id) || !utf8.ValidString(user) || !utf8.ValidString(typ) {
			e := codecEvent()
			e.ID, e.User, e.Type = id, user, station.EventType(typ)
			if _, _, err := encodeSegment([]station.Event{e}, nil); err == nil {
				t.Fatal("an event with a field that is not UTF-8 was encoded")
			}
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(payload)); err != nil || compact.String() != payload {
			return // stored payloads are compact
		}
		e := codecEvent()
		e.ID, e.User, e.Type, e.Payload, e.Seq = id, user, station.EventType(typ), json.RawMessage(payload), seq
		data, _, err := encodeSegment([]station.Event{e}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeSegment(data, nil)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if diff := cmp.Diff([]station.Event{e}, got); diff != "" {
			t.Fatalf("round trip differs:\n%s", diff)
		}
	})
}
