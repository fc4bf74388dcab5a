//go:build !race

package epcis

const raceEnabled = false
