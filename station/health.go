package station

import "time"

// DeviceState is how a device (or a link such as the uplink or the NTP clock)
// is doing, as shown by the lamps on the kiosk.
type DeviceState string

// Device states. Only connected lets the line run without an alarm.
const (
	DeviceConnected    DeviceState = "connected"    // answering and ready: green
	DeviceDegraded     DeviceState = "degraded"     // answering but something needs attention: amber
	DeviceFaulted      DeviceState = "faulted"      // answering with a fault that stops production: red
	DeviceDisconnected DeviceState = "disconnected" // not answering; the driver is reconnecting: red
)

// Health is one device's state with the reason for it, for the operator.
type Health struct {
	Device string      // configured name, e.g. "printer" or "camera-1"
	Kind   string      // "printer", "coder", "camera", "scanner", "plc", "clock", "uplink"
	State  DeviceState // current state
	Reason string      // why it is not connected, in words an operator can act on
	Since  time.Time   // when State last changed (UTC)
}

// OK reports whether the device lets the line run.
func (h Health) OK() bool { return h.State == DeviceConnected }

// HealthReporter is implemented by every driver: Health never blocks.
type HealthReporter interface {
	Health() Health
}
