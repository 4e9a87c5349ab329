package master_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/msx-project/msx/master"
)

// BenchmarkMetricsScrape gathers and encodes the master's series (what a scrape costs without
// HTTP) on the views' fleet: a job on every one of 1,000 targets with one outcome each.
//
//	go test -run '^$' -bench MetricsScrape -benchtime 10x ./master/
func BenchmarkMetricsScrape(b *testing.B) {
	v := newViewFleet(b, 1000, 1)
	for _, opt := range []master.MetricsOptions{{}, {NoServerLabel: true}} {
		reg := master.NewMetricsRegistry(v.m, opt)
		b.Run(fmt.Sprintf("no_server_label=%v", opt.NoServerLabel), func(b *testing.B) {
			for b.Loop() {
				mfs, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
				for _, mf := range mfs {
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
