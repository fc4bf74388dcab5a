package ui

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2/lang"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// tr translates an operator-facing text through Fyne's lang package; the
// text itself is the key (assets/translations/*.json).
func tr(text string) string { return lang.L(text) }

// trf translates a text with {{.Name}} fields filled from data.
func trf(text string, data map[string]any) string { return lang.L(text, data) }

// Numbers and dates are shown in the station's locale; records stay UTC.

// num formats n with the language's digit grouping: 12,345 or 12.345.
func (k *Kiosk) num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := ","
	if k.lang == "de" {
		sep = "."
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percent formats a share (0.98) as a percentage with one decimal.
func (k *Kiosk) percent(x float64) string {
	s := strconv.FormatFloat(x*100, 'f', 1, 64)
	if k.lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " %"
}

// date formats a day: 30 Jun 2028 or 30.06.2028.
func (k *Kiosk) date(t time.Time) string {
	if k.lang == "de" {
		return t.Format("02.01.2006")
	}
	return t.Format("02 Jan 2006")
}

// dateTime formats an instant in the station's zone.
func (k *Kiosk) dateTime(t time.Time) string {
	if t.IsZero() {
		return tr("never")
	}
	t = t.In(k.d.Location)
	if k.lang == "de" {
		return t.Format("02.01.2006 15:04:05")
	}
	return t.Format("02 Jan 2006 15:04:05")
}

// timeOfDay formats the time of an instant in the station's zone.
func (k *Kiosk) timeOfDay(t time.Time) string {
	return t.In(k.d.Location).Format("15:04:05")
}

// expiry formats a GS1 YYMMDD expiry (day 00: end of month) as a date.
func (k *Kiosk) expiry(yymmdd string) string {
	t, err := gs1.ExpiryDate(yymmdd, k.d.Now())
	if err != nil {
		return yymmdd
	}
	return k.date(t)
}

// duration formats a duration for the operator: 1.234 s, 250 ms, 3 min.
func (k *Kiosk) duration(d time.Duration) string {
	switch a := d.Abs(); {
	case a < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case a < time.Minute:
		s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
		if k.lang == "de" {
			s = strings.Replace(s, ".", ",", 1)
		}
		return s + " s"
	case a < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	}
	return strconv.Itoa(int(d.Hours())) + " h"
}

// roleName is a role in the operator's words.
func roleName(r station.Role) string {
	switch r {
	case station.RoleOperator:
		return tr("operator")
	case station.RolePacker:
		return tr("packer")
	case station.RoleSupervisor:
		return tr("supervisor")
	case station.RoleQA:
		return tr("QA")
	case station.RoleAdmin:
		return tr("administrator")
	}
	return string(r)
}

// rejectName is a reject reason in the operator's words.
func rejectName(r station.RejectReason) string {
	switch r {
	case station.RejectNoRead:
		return tr("No read")
	case station.RejectWrongContent:
		return tr("Wrong content")
	case station.RejectLowGrade:
		return tr("Low grade")
	case station.RejectDuplicate:
		return tr("Duplicate")
	case station.RejectMissing:
		return tr("Missing")
	case station.RejectOutOfSequence:
		return tr("Out of sequence")
	case station.RejectPrinterFault:
		return tr("Printer fault")
	case station.RejectManual:
		return tr("Taken off by hand")
	case station.RejectClock:
		return tr("Clock not trusted")
	}
	return string(r)
}

// orderStateName is an order state in the operator's words.
func orderStateName(s station.OrderState) string {
	switch s {
	case station.OrderPlanned:
		return tr("planned")
	case station.OrderReleased:
		return tr("released")
	case station.OrderRunning:
		return tr("running")
	case station.OrderHeld:
		return tr("held")
	case station.OrderCompleted:
		return tr("completed")
	case station.OrderClosed:
		return tr("closed")
	}
	return string(s)
}

// runStateName is a line run state in the operator's words.
func runStateName(s station.RunState) string {
	switch s {
	case station.RunRunning:
		return tr("running")
	case station.RunHeld:
		return tr("held")
	case station.RunStopped:
		return tr("stopped")
	case station.RunDone:
		return tr("quantity reached")
	case station.RunCompleting:
		return tr("completing")
	case station.RunCompleted:
		return tr("completed")
	case station.RunEnded:
		return tr("stopped")
	}
	return tr("not started")
}

// meaningName is what a signature means, in the operator's words.
func meaningName(m station.Meaning) string {
	switch m {
	case station.MeaningClosed:
		return tr("Closed: I reviewed the reconciliation")
	case station.MeaningDeviation:
		return tr("Approved deviation")
	case station.MeaningPartial:
		return tr("Approved partial")
	case station.MeaningRework:
		return tr("Approved rework")
	case station.MeaningDestroyed:
		return tr("Destroyed: the pack leaves the supply chain")
	case station.MeaningReleased:
		return tr("Released from quarantine")
	}
	return string(m)
}

// levelName is a packaging level in the operator's words.
func levelName(l station.AggregationLevel) string {
	switch l {
	case station.LevelUnit:
		return tr("pack")
	case station.LevelBundle:
		return tr("bundle")
	case station.LevelCase:
		return tr("case")
	case station.LevelPallet:
		return tr("pallet")
	}
	return string(l)
}

// levelCount is a packaging level after a count: "1 case", "2 cases".
func levelCount(l station.AggregationLevel, n int) string {
	if n == 1 {
		return levelName(l)
	}
	switch l {
	case station.LevelUnit:
		return tr("packs")
	case station.LevelBundle:
		return tr("bundles")
	case station.LevelCase:
		return tr("cases")
	case station.LevelPallet:
		return tr("pallets")
	}
	return string(l)
}

// itemStateName is a pack's or container's state in the operator's words.
func itemStateName(s string) string {
	switch s {
	case string(station.UnitStateAvailable):
		return tr("available")
	case string(station.UnitStateAllocated):
		return tr("allocated")
	case string(station.UnitStatePrinted):
		return tr("printed")
	case string(station.UnitStateVerified):
		return tr("verified")
	case string(station.UnitStateCommissioned):
		return tr("commissioned")
	case string(station.UnitStateRejected):
		return tr("rejected")
	case string(station.UnitStateDecommissioned):
		return tr("decommissioned")
	case string(station.UnitStateSampled):
		return tr("sampled")
	case string(station.UnitStateReturned):
		return tr("returned")
	case string(station.UnitStateVoided):
		return tr("voided")
	case string(station.ContainerOpen):
		return tr("open")
	case string(station.ContainerClosed):
		return tr("closed")
	}
	return s
}

// stockName is a warehouse status in the operator's words.
func stockName(s station.StockStatus) string {
	switch s {
	case station.StockInStock:
		return tr("in stock")
	case station.StockPicked:
		return tr("picked")
	case station.StockShipped:
		return tr("shipped")
	case station.StockInQuarantine:
		return tr("quarantined")
	}
	return string(s)
}

// decommissionName is a decommission reason in the operator's words.
func decommissionName(r station.DecommissionReason) string {
	switch r {
	case station.DecommissionDestroyed:
		return tr("destroyed")
	case station.DecommissionStolen:
		return tr("stolen")
	case station.DecommissionDamaged:
		return tr("damaged")
	case station.DecommissionRecalled:
		return tr("recalled")
	case station.DecommissionExpired:
		return tr("expired")
	case station.DecommissionReplaced:
		return tr("replaced")
	}
	return string(r)
}

// deviceName is a lamp's device in the operator's words.
func deviceName(kind string) string {
	switch kind {
	case lampPrinter:
		return tr("Label printer")
	case lampCoder:
		return tr("Coder")
	case lampCamera:
		return tr("Camera")
	case lampScanner:
		return tr("Scanner")
	case lampPLC:
		return tr("Line PLC")
	case lampClock:
		return tr("Clock (NTP)")
	case lampUplink:
		return tr("Central")
	case lampBackup:
		return tr("Backup")
	}
	return kind
}

// capital starts a sentence with a capital letter ("case (00)... is
// closed" becomes "Case (00)... is closed").
func capital(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// samplePurposeName is what a sample is for, in the operator's words.
func samplePurposeName(p string) string {
	switch p {
	case "qa":
		return tr("QA testing")
	case "retention":
		return tr("retention sample")
	case "stability":
		return tr("stability study")
	}
	return p
}
