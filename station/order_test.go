package station_test

import (
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

func TestCheckOrderTransition(t *testing.T) {
	all := []station.OrderState{station.OrderPlanned, station.OrderReleased, station.OrderRunning,
		station.OrderHeld, station.OrderCompleted, station.OrderClosed}
	legal := map[[2]station.OrderState]bool{
		{station.OrderPlanned, station.OrderReleased}:  true,
		{station.OrderReleased, station.OrderRunning}:  true,
		{station.OrderRunning, station.OrderHeld}:      true,
		{station.OrderHeld, station.OrderRunning}:      true,
		{station.OrderRunning, station.OrderCompleted}: true,
		{station.OrderHeld, station.OrderCompleted}:    true,
		{station.OrderCompleted, station.OrderClosed}:  true,
	}
	for _, from := range all {
		for _, to := range all {
			err := station.CheckOrderTransition(from, to)
			if legal[[2]station.OrderState{from, to}] {
				if err != nil {
					t.Errorf("%s -> %s: %v, want allowed", from, to, err)
				}
			} else if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), string(from)) {
				t.Errorf("%s -> %s: %v, want ECONFLICT naming the state", from, to, err)
			}
		}
	}
	if err := station.CheckOrderTransition(station.OrderPlanned, station.OrderClosed); !strings.Contains(err.Error(), "it can become released") {
		t.Fatalf("message %q does not say what is allowed", err)
	}
}
