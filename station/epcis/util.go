package epcis

import "unsafe"

// unsafeString views b as a string without copying. Only for strings that
// are used before b changes again (writing a scratch buffer out).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
