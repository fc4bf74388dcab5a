// Package station is the domain of linestation: products, packaging orders,
// serial pools, the unit lifecycle, aggregation, warehouse moves,
// reconciliation, users and signatures.
//
// It defines the interfaces it consumes (Ledger, Clock, Printer, Coder,
// Camera, Scanner, Line, Uplink) and holds no SQL, Fyne, serial or HTTP code.
// Every other package of the module imports station; station imports only the
// standard library and its own subpackages (station/gs1, station/epcis).
package station

// Version and Commit are set at link time (-ldflags "-X ...") by the Makefile.
var (
	Version = "0.1.0-dev"
	Commit  = ""
)

// AppName is the product's name as shown to operators.
const AppName = "linestation"
