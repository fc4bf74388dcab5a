package opcua

import (
	"testing"

	"github.com/gopcua/opcua/ua"

	"github.com/linestation/linestation/station"
)

// PLCs expose the same datum in different types; apply decodes them all.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    datum
		v    any
		want station.LineStatus
		err  bool
	}{
		{"StateInt32", dState, int32(6), station.LineStatus{State: station.LineStateExecute}, false},
		{"StateUInt16", dState, uint16(11), station.LineStatus{State: station.LineStateHeld}, false},
		{"StateName", dState, "Execute", station.LineStatus{State: station.LineStateExecute}, false},
		{"StateLocalizedText", dState, ua.NewLocalizedText("aborted"), station.LineStatus{State: station.LineStateAborted}, false},
		{"StateUnknownName", dState, "Running", station.LineStatus{}, true},
		{"StateFloat", dState, 6.0, station.LineStatus{}, true},
		{"ModeByte", dMode, byte(3), station.LineStatus{Mode: station.LineModeManual}, false},
		{"ProcessedUInt64", dProcessed, uint64(1 << 40), station.LineStatus{Processed: 1 << 40}, false},
		{"ProcessedString", dProcessed, "12", station.LineStatus{}, true},
		{"DefectiveInt64", dDefective, int64(9), station.LineStatus{Defective: 9}, false},
		{"ReasonID", dReasonID, int32(42), station.LineStatus{StopReason: station.LineStopReason{ID: 42}}, false},
		{"ReasonMessage", dReasonMsg, ua.NewLocalizedText("jam"), station.LineStatus{StopReason: station.LineStopReason{Message: "jam"}}, false},
		{"ReasonMessageInt", dReasonMsg, int32(1), station.LineStatus{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st station.LineStatus
			err := apply(&st, tc.d, ua.MustVariant(tc.v))
			if (err != nil) != tc.err {
				t.Fatalf("apply(%v)=%v, want error %v", tc.v, err, tc.err)
			}
			if st != tc.want {
				t.Fatalf("status=%+v, want %+v", st, tc.want)
			}
		})
	}
}
