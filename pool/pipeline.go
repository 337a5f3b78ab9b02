package pool

import "time"

// PipelineRun is one run of an Azure Pipelines definition, such as the one
// that builds a pool's image.
type PipelineRun struct {
	Project    string
	PipelineID int
	ID         int
	Name       string
	State      string // inProgress, canceling, completed
	Result     string // succeeded, failed, canceled; empty until completed
	URL        string // the run's page, for people
	Created    time.Time
	Finished   time.Time
	// Version is the image version a successful run published, when the
	// run says (its templateParameters' imageVersion); empty otherwise.
	Version string
}

// Done reports whether the run has finished.
func (r PipelineRun) Done() bool { return r.State == "completed" }
