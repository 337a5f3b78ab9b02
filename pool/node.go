package pool

// NodeState is an elastic node's state as Azure DevOps reports it.
type NodeState string

const (
	NodeNone                         NodeState = "none"
	NodeNew                          NodeState = "new"
	NodeCreatingCompute              NodeState = "creatingCompute"
	NodeStartingAgent                NodeState = "startingAgent"
	NodeIdle                         NodeState = "idle"
	NodeAssigned                     NodeState = "assigned"
	NodeOffline                      NodeState = "offline"
	NodePendingReimage               NodeState = "pendingReimage"
	NodePendingDelete                NodeState = "pendingDelete"
	NodeSaved                        NodeState = "saved"
	NodeDeletingCompute              NodeState = "deletingCompute"
	NodeDeleted                      NodeState = "deleted"
	NodeLost                         NodeState = "lost"
	NodeReimagingCompute             NodeState = "reimagingCompute"
	NodeRestartingAgent              NodeState = "restartingAgent"
	NodeFailedToStartPendingDelete   NodeState = "failedToStartPendingDelete"
	NodeFailedToRestartPendingDelete NodeState = "failedToRestartPendingDelete"
	NodeFailedVMPendingDelete        NodeState = "failedVMPendingDelete"
	NodeAssignedPendingDelete        NodeState = "assignedPendingDelete"
	NodeRetryDelete                  NodeState = "retryDelete"
	NodeUnhealthyVM                  NodeState = "unhealthyVm"
	NodeUnhealthyVMPendingDelete     NodeState = "unhealthyVmPendingDelete"
)

// Class groups node states the way a person reads a pool.
type Class string

const (
	ClassIdle     Class = "idle"
	ClassBusy     Class = "busy"
	ClassStarting Class = "starting"
	ClassOffline  Class = "offline"
	ClassFailed   Class = "failed"
	ClassGoing    Class = "going" // being deleted or reimaged
)

// Class returns the group s belongs to.
func (s NodeState) Class() Class {
	switch s {
	case NodeIdle:
		return ClassIdle
	case NodeAssigned, NodeAssignedPendingDelete:
		return ClassBusy
	case NodeNew, NodeCreatingCompute, NodeStartingAgent, NodeRestartingAgent, NodeReimagingCompute:
		return ClassStarting
	case NodeOffline:
		return ClassOffline
	case NodeFailedToStartPendingDelete, NodeFailedToRestartPendingDelete, NodeFailedVMPendingDelete,
		NodeLost, NodeUnhealthyVM, NodeUnhealthyVMPendingDelete:
		return ClassFailed
	default:
		return ClassGoing
	}
}

// Failed reports whether s is a state poolbot alerts on.
func (s NodeState) Failed() bool { return s.Class() == ClassFailed }

// Counts is a pool's nodes by class.
type Counts struct {
	Idle, Busy, Starting, Offline, Failed, Going int
}

// Total is the number of nodes counted.
func (c Counts) Total() int { return c.Idle + c.Busy + c.Starting + c.Offline + c.Failed + c.Going }

// Count groups nodes by class.
func Count(nodes []Node) Counts {
	var c Counts
	for _, n := range nodes {
		switch n.State.Class() {
		case ClassIdle:
			c.Idle++
		case ClassBusy:
			c.Busy++
		case ClassStarting:
			c.Starting++
		case ClassOffline:
			c.Offline++
		case ClassFailed:
			c.Failed++
		default:
			c.Going++
		}
	}
	return c
}
