package dscsa_test

import (
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// BenchmarkVerify answers verification requests in-process (the decision
// and the durable record of request and answer), against the repository
// lookup alone as the baseline of the same run.
func BenchmarkVerify(b *testing.B) {
	db := dscsatest.MustStore(b, "line-1")
	s := &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: 2000, Shipment: "SH-1"}
	dscsatest.MustScenario(b, db, s)
	x := MustExchange(b, db, dscsatest.MfrGLN)
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodNone})); err != nil {
		b.Fatal(err)
	}
	p, _ := db.Partner(ctx, "wholesaler")
	c := dscsa.Caller{Partner: &p, Name: p.ID}
	const lookups = 2000
	start := time.Now()
	for i := 0; i < lookups; i++ {
		if _, err := db.SerialInfo(ctx, centraltest.GTIN, s.UnitSerial(i%2000)); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(start) / lookups
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := x.Verify(ctx, c, vreq(s.UnitSerial(i%2000), centraltest.Lot, centraltest.Expiry))
		if err != nil || !resp.Data.Verified {
			b.Fatalf("%+v %v", resp, err)
		}
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds()), "us/answer")
	b.ReportMetric(float64(base.Microseconds()), "us/lookup")
	b.ReportMetric(float64(per)/float64(base), "x-lookup")
}
