//go:build race

package epcis

// raceEnabled: the race detector slows the decoders about tenfold.
const raceEnabled = true
