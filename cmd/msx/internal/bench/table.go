package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as a readable table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "msx bench: %d targets, %d rounds, %d jobs on the schedule target; %s; %d CPUs, %s; %.1f s\n\n",
		r.Targets, r.Rounds, r.Jobs, r.Mode, r.CPUs, r.Go, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\t\tp50 ms\tp99 ms\tmax ms\ttotal ms\tper s\t")
	for _, m := range r.Measures {
		row := func(label string, f Figures) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", label, "", num(f.P50MS), num(f.P99MS), num(f.MaxMS), num(f.TotalMS), num(f.PerSecond))
		}
		row(m.Name+" msx", m.MSX)
		row(m.Name+" raw", m.Raw)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Name+" msx/raw", "", x(m.Ratio.P50), x(m.Ratio.P99), x(m.Ratio.Max), x(m.Ratio.Total), x(m.Ratio.PerSecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nmemory (master and targets share one process): master %.1f MiB RSS; fleet +%.1f MiB = %.3f MiB per target; bare connection + ordered consumer %.3f MiB (%sx)\n",
		r.Memory.MasterRSSMiB, r.Memory.FleetRSSMiB, r.Memory.PerTargetRSSMiB, r.Memory.RawPerConnRSSMiB, trim(r.Memory.PerTargetVsRawConn))
	if len(r.Views) > 0 {
		fmt.Fprintln(w, "\nAPI views (HTTP, JSON encoded):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "view\tp50 ms\tp99 ms\tmax ms\tbytes\t")
		for _, v := range r.Views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t\n", v.Name, num(v.P50MS), num(v.P99MS), num(v.MaxMS), v.Bytes)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if f := r.Failover; f != nil {
		fmt.Fprintf(w, "\nfailover, %d masters each on its own node, leader's node and master stopped at once, %d rounds:\n", f.Masters, f.Rounds)
		fmt.Fprintf(w, "  takeover p50 %s ms, p99 %s ms, max %s ms; lease TTL %s ms: %s, %s, %s of the TTL\n",
			num(f.Takeover.P50MS), num(f.Takeover.P99MS), num(f.Takeover.MaxMS), num(f.LeaseTTLMS), x(f.VsTTL.P50), x(f.VsTTL.P99), x(f.VsTTL.Max))
	}
	if x := r.Execution; x != nil {
		fmt.Fprintf(w, "\nexecution, %d targets × %d jobs every second (%s step), %d s: %d of %d firings started, %d missed, %d skipped, %d finished (%d failed); %s runs/s, lateness p50 %s ms, p99 %s ms (raw floor: %s/s, p99 %s ms, %d missed)\n",
			x.Targets, x.JobsPerTarget, x.Step, x.WindowS, x.Started, x.Expected, x.Missed, x.Skipped, x.Finished, x.Failed,
			num(x.PerSecond), num(x.Lateness.P50MS), num(x.Lateness.P99MS), num(x.RawPerSecond), num(x.RawLateness.P99MS), x.RawMissed)
	}
	fmt.Fprintln(w, "\nwhat is measured:")
	for _, m := range r.Measures {
		fmt.Fprintf(w, "  %-17s msx: %s\n  %-17s raw: %s\n", m.Name, m.What, "", m.RawWhat)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  - "+n)
		}
	}
	return nil
}

func num(f float64) string {
	if f == 0 {
		return "-"
	}
	if f >= 100 {
		return fmt.Sprintf("%.0f", f)
	}
	return trim(f)
}

func x(f float64) string {
	if f == 0 {
		return "-"
	}
	return trim(f) + "x"
}

func trim(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
