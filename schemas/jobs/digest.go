package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/msx-project/msx/schemas/schedule"
)

// digestDay is the date Digest gives Normalize. Normalize fills a schedule's missing start date
// with "today", so a fixed day keeps the digest of a job that was not normalised the same from
// one day to the next; a normalised job already has its dates and is not changed.
var digestDay = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Digest returns a short, stable hash (16 hex digits) of the job's definition: what a target
// runs. It covers the header, steps and schedules after Normalize (applied to a copy), and
// leaves out job_id, version_number and targets, so two jobs with the same digest run the same
// way. The master compares digests to decide whether an apply changes a job.
func (j Job) Digest() string {
	c := j.Clone()
	c.JobID, c.VersionNumber, c.Targets = "", 0, Targets{}
	// The master sends msx's own notifications: changing them does not change what a target runs.
	c.NotifyPageOperator, c.NotifyLevelWebhook, c.NotifyWebhookOperator = "", 0, ""
	c.NotifyAfterFailures, c.NotifyOnRecovery, c.NotifyMissedRunGrace = 0, false, 0
	c.Normalize(digestDay)
	// Marshalling a Job cannot fail: it holds only strings, numbers, booleans and slices of them.
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Clone returns a deep copy of the job: changing the copy's steps, schedules or targets leaves
// the original as it was.
func (j Job) Clone() Job {
	c := j
	if j.Enabled != nil {
		v := *j.Enabled
		c.Enabled = &v
	}
	if j.NotifyLevelEventlog != nil {
		v := *j.NotifyLevelEventlog
		c.NotifyLevelEventlog = &v
	}
	c.Steps = slices.Clone(j.Steps)
	c.Schedules = make([]schedule.Schedule, len(j.Schedules))
	for i, s := range j.Schedules {
		if s.Enabled != nil {
			v := *s.Enabled
			s.Enabled = &v
		}
		c.Schedules[i] = s
	}
	if j.Schedules == nil {
		c.Schedules = nil
	}
	c.DisabledOn = slices.Clone(j.DisabledOn)
	c.Variables = slices.Clone(j.Variables)
	c.Targets.Servers = slices.Clone(j.Targets.Servers)
	c.Targets.Groups = slices.Clone(j.Targets.Groups)
	return c
}
