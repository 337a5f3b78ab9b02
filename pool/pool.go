// Package pool holds poolbot's domain: scale-set agent pools, their nodes and
// settings, the state poolbot keeps about them, and the two interfaces the rest
// of the bot is written against: Service (Azure DevOps and Azure) and Store
// (poolbot's own state). It imports only the standard library.
package pool

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// OS is the operating system of a pool's agents.
type OS string

const (
	Linux   OS = "linux"
	Windows OS = "windows"
)

// State is an elastic pool's state as Azure DevOps reports it.
type State string

const (
	StateOnline    State = "online"
	StateOffline   State = "offline"
	StateUnhealthy State = "unhealthy"
	StateNew       State = "new"
)

// Pool is one scale-set agent pool: its Azure DevOps side and, when fetched,
// its scale set.
type Pool struct {
	ID             int    // Azure DevOps agent pool id (elastic poolId)
	Name           string // agent pool name
	OS             OS
	State          State
	Standby        int // desiredIdle
	Max            int // maxCapacity
	DesiredSize    int
	TTLMinutes     int // timeToLiveMinutes
	Recycle        bool
	MaxSaved       int // maxSavedNodeCount
	SizingAttempts int
	OfflineSince   time.Time
	ScaleSetID     string // azureId, the scale set's resource id
	// Kind is "managed" for a Managed DevOps Pool (ScaleSetID is then the
	// pool's resource id); empty for an elastic (scale-set) pool.
	Kind string
	// StandbyBy says who sets a managed pool's standby: "poolbot", or the
	// service's own scheme; empty for elastic pools.
	StandbyBy string

	// Filled only when asked for (see ListOptions) or by Get.
	ScaleSet *ScaleSet
	Nodes    []Node
	Counts   Counts // derived from Nodes when nodes were fetched
	Queue    int    // jobs waiting for an agent; -1 when not fetched
}

// Settings is a change to a pool's settings; nil fields stay as they are.
type Settings struct {
	Standby    *int
	Max        *int
	TTLMinutes *int
	Recycle    *bool
}

// Int returns a pointer to v, for building Settings.
func Int(v int) *int { return &v }

// Bool returns a pointer to v, for building Settings.
func Bool(v bool) *bool { return &v }

// Empty reports whether s changes nothing.
func (s Settings) Empty() bool {
	return s.Standby == nil && s.Max == nil && s.TTLMinutes == nil && s.Recycle == nil
}

// Of returns p's current settings, every field set.
func Of(p Pool) Settings {
	return Settings{Standby: Int(p.Standby), Max: Int(p.Max), TTLMinutes: Int(p.TTLMinutes), Recycle: Bool(p.Recycle)}
}

// Apply returns p with s applied.
func (s Settings) Apply(p Pool) Pool {
	if s.Standby != nil {
		p.Standby = *s.Standby
	}
	if s.Max != nil {
		p.Max = *s.Max
	}
	if s.TTLMinutes != nil {
		p.TTLMinutes = *s.TTLMinutes
	}
	if s.Recycle != nil {
		p.Recycle = *s.Recycle
	}
	return p
}

// Validate checks s against the pool it would apply to, as Azure DevOps does.
func (s Settings) Validate(p Pool) error {
	n := s.Apply(p)
	switch {
	case n.Standby < 0:
		return fmt.Errorf("standby must be 0 or more, not %d", n.Standby)
	case n.Max < 1:
		return fmt.Errorf("max must be at least 1, not %d", n.Max)
	case n.Max > 1000:
		return fmt.Errorf("max must be at most 1000, not %d", n.Max)
	case n.Standby > n.Max:
		return fmt.Errorf("standby (%d) cannot be more than max (%d)", n.Standby, n.Max)
	case n.TTLMinutes < 0:
		return fmt.Errorf("ttl must be 0 minutes or more, not %d", n.TTLMinutes)
	}
	return nil
}

// String renders s as "standby=2 max=10 ttl=30 recycle=false", set fields only.
func (s Settings) String() string {
	var b []string
	if s.Standby != nil {
		b = append(b, fmt.Sprintf("standby=%d", *s.Standby))
	}
	if s.Max != nil {
		b = append(b, fmt.Sprintf("max=%d", *s.Max))
	}
	if s.TTLMinutes != nil {
		b = append(b, fmt.Sprintf("ttl=%d", *s.TTLMinutes))
	}
	if s.Recycle != nil {
		b = append(b, fmt.Sprintf("recycle=%t", *s.Recycle))
	}
	if len(b) == 0 {
		return "no change"
	}
	return strings.Join(b, " ")
}

// ScaleSet is the Azure side of a pool.
type ScaleSet struct {
	ID              string // full resource id
	Subscription    string
	ResourceGroup   string
	Name            string
	Region          string
	SKU             string
	Capacity        int
	Image           Image
	EphemeralOSDisk bool
	Tags            map[string]string
}

// Node is one VM and its agent in an elastic pool.
type Node struct {
	ID             int
	Name           string
	AgentID        int
	ComputeID      string // scale set instance id
	State          NodeState
	ComputeState   string
	AgentState     string
	RequestID      uint64 // job being run, 0 when none
	StateChangedOn time.Time
	// Image is the image its VM was made from, with the version it got;
	// filled by Service.Get only, zero when unknown.
	Image Image
	// AgentVersion is the version its Azure Pipelines agent reports
	// ("4.258.1"); filled by Service.Get only, empty when unknown.
	AgentVersion string
}

// LogEntry is one line of a pool's Diagnostics log.
type LogEntry struct {
	ID        uint64
	Level     string // error, warning, info
	Operation string // configurationJob, sizingJob, increaseCapacity, reimage, deleteVMs
	Message   string
	Time      time.Time
}

// CreateSpec is what `create` needs: the scale set and the elastic pool.
type CreateSpec struct {
	Name                 string
	OS                   OS
	Subscription         string
	ResourceGroup        string
	Region               string
	SKU                  string
	Image                Image
	SubnetID             string
	EphemeralOSDisk      bool
	AdminUser            string
	SSHPublicKey         string // Linux
	AdminPassword        string // Windows; never logged
	Standby              int
	Max                  int
	TTLMinutes           int
	Recycle              bool
	ServiceEndpointID    string // Azure Resource Manager service connection id
	ServiceEndpointScope string // its project id
	ProjectID            string // optional: also create the project queue
	Tags                 map[string]string
}

// ListOptions says what List fetches beside the pools themselves. Each adds
// calls: nodes and queue one per pool, scale sets one ARM call per pool,
// images one more ARM call per pool with a scale set.
type ListOptions struct {
	Nodes     bool
	Queue     bool
	ScaleSets bool
	// Images fills each node's Image (with Nodes).
	Images bool
}

// Service reads and changes pools in Azure DevOps and Azure. Pools are named
// by their Azure DevOps agent pool name. Errors are *Error where the cause is
// known, so that a caller can tell a Slack user what happened. Implementations
// are safe for concurrent use; they do not order two changes of one pool
// (change.Changer's lock does).
type Service interface {
	List(ctx context.Context, opts ListOptions) ([]Pool, error)
	// Get returns one pool with its nodes, queue and scale set.
	Get(ctx context.Context, name string) (Pool, error)
	Nodes(ctx context.Context, name string) ([]Node, error)
	// Queue returns the number of jobs waiting for an agent of the pool.
	Queue(ctx context.Context, name string) (int, error)
	// Logs returns the pool's Diagnostics entries with ID greater than after, oldest first.
	Logs(ctx context.Context, name string, after uint64) ([]LogEntry, error)
	// Update sends the settings s sets, and only those, to the pool cur
	// (as the caller read it: its Name, and its ID or resource id when
	// known) and returns the pool as changed, without nodes, queue or
	// scale set. Fields s leaves nil keep what the service has, so a
	// change someone made meanwhile to another setting stays. An elastic
	// pool's Update is one PATCH and no read; a managed pool's reads its
	// resource first, which the merge patch and the standby's owner need.
	// It does not check s (the Changer does); the service refuses an
	// invalid change as KindInvalid, an unknown pool as KindNotFound.
	Update(ctx context.Context, cur Pool, s Settings) (after Pool, err error)
	// SetImage changes the scale set's image; a gallery image without a
	// version, or version "latest", resolves to the newest version first.
	// It returns the image before and the image now set.
	SetImage(ctx context.Context, name string, img Image) (before, after Image, err error)
	Create(ctx context.Context, spec CreateSpec) (Pool, error)
	ReimageNodes(ctx context.Context, name string, nodeIDs []int) error
	DeleteNodes(ctx context.Context, name string, nodeIDs []int) error
	// JobHistory reads the pool's job requests newest first, from q.Token
	// or the newest, until the first one queued before q.Since or
	// q.MaxCalls calls. Errors: *Error of KindNotFound for an unknown pool,
	// or Azure DevOps' failure in words; on a failure after the first call
	// it also returns what it read, with Token set to go on from there.
	// Safe for concurrent use.
	JobHistory(ctx context.Context, name string, q JobQuery) (JobPage, error)
}
