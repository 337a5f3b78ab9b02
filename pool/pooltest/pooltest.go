// Package pooltest gives tests an in-memory pool.Service: a struct of
// function fields, one per method, so that a package's tests exercise its
// own logic without the simulator (which keeps the end-to-end tests).
package pooltest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/poolbot/poolbot/pool"
)

// Service is a pool.Service whose methods call its fields; a method whose
// field is nil fails with an error naming it. It counts the calls of each
// method. Safe for concurrent use when its functions are.
type Service struct {
	ListFn         func(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error)
	GetFn          func(ctx context.Context, name string) (pool.Pool, error)
	NodesFn        func(ctx context.Context, name string) ([]pool.Node, error)
	QueueFn        func(ctx context.Context, name string) (int, error)
	LogsFn         func(ctx context.Context, name string, after uint64) ([]pool.LogEntry, error)
	UpdateFn       func(ctx context.Context, cur pool.Pool, s pool.Settings) (after pool.Pool, err error)
	SetImageFn     func(ctx context.Context, name string, img pool.Image) (before, after pool.Image, err error)
	CreateFn       func(ctx context.Context, spec pool.CreateSpec) (pool.Pool, error)
	ReimageNodesFn func(ctx context.Context, name string, nodeIDs []int) error
	DeleteNodesFn  func(ctx context.Context, name string, nodeIDs []int) error
	JobHistoryFn   func(ctx context.Context, name string, q pool.JobQuery) (pool.JobPage, error)

	mu    sync.Mutex
	calls map[string]int
}

var _ pool.Service = (*Service)(nil)

func (s *Service) called(method string, set bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[method]++
	if !set {
		return fmt.Errorf("pooltest: %s called, and the test set no %sFn", method, method)
	}
	return nil
}

// Calls returns how many times method ("List", "Update"…) was called.
func (s *Service) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Service) List(ctx context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
	if err := s.called("List", s.ListFn != nil); err != nil {
		return nil, err
	}
	return s.ListFn(ctx, opts)
}

func (s *Service) Get(ctx context.Context, name string) (pool.Pool, error) {
	if err := s.called("Get", s.GetFn != nil); err != nil {
		return pool.Pool{}, err
	}
	return s.GetFn(ctx, name)
}

func (s *Service) Nodes(ctx context.Context, name string) ([]pool.Node, error) {
	if err := s.called("Nodes", s.NodesFn != nil); err != nil {
		return nil, err
	}
	return s.NodesFn(ctx, name)
}

func (s *Service) Queue(ctx context.Context, name string) (int, error) {
	if err := s.called("Queue", s.QueueFn != nil); err != nil {
		return 0, err
	}
	return s.QueueFn(ctx, name)
}

func (s *Service) Logs(ctx context.Context, name string, after uint64) ([]pool.LogEntry, error) {
	if err := s.called("Logs", s.LogsFn != nil); err != nil {
		return nil, err
	}
	return s.LogsFn(ctx, name, after)
}

func (s *Service) Update(ctx context.Context, cur pool.Pool, st pool.Settings) (pool.Pool, error) {
	if err := s.called("Update", s.UpdateFn != nil); err != nil {
		return pool.Pool{}, err
	}
	return s.UpdateFn(ctx, cur, st)
}

func (s *Service) SetImage(ctx context.Context, name string, img pool.Image) (before, after pool.Image, err error) {
	if err := s.called("SetImage", s.SetImageFn != nil); err != nil {
		return pool.Image{}, pool.Image{}, err
	}
	return s.SetImageFn(ctx, name, img)
}

func (s *Service) Create(ctx context.Context, spec pool.CreateSpec) (pool.Pool, error) {
	if err := s.called("Create", s.CreateFn != nil); err != nil {
		return pool.Pool{}, err
	}
	return s.CreateFn(ctx, spec)
}

func (s *Service) ReimageNodes(ctx context.Context, name string, nodeIDs []int) error {
	if err := s.called("ReimageNodes", s.ReimageNodesFn != nil); err != nil {
		return err
	}
	return s.ReimageNodesFn(ctx, name, nodeIDs)
}

func (s *Service) DeleteNodes(ctx context.Context, name string, nodeIDs []int) error {
	if err := s.called("DeleteNodes", s.DeleteNodesFn != nil); err != nil {
		return err
	}
	return s.DeleteNodesFn(ctx, name, nodeIDs)
}

func (s *Service) JobHistory(ctx context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
	if err := s.called("JobHistory", s.JobHistoryFn != nil); err != nil {
		return pool.JobPage{}, err
	}
	return s.JobHistoryFn(ctx, name, q)
}

// Pools returns a Service holding pools in memory: List, Get (a pool with
// its Nodes as given), Logs (none) and Update (settings applied, Azure
// DevOps' own check made) work on them; the other methods are unset.
// Names match without regard to case, as Azure DevOps'.
func Pools(pools ...pool.Pool) *Service {
	var mu sync.Mutex
	byName := map[string]pool.Pool{}
	for _, p := range pools {
		byName[strings.ToLower(p.Name)] = p
	}
	find := func(name string) (pool.Pool, error) {
		p, ok := byName[strings.ToLower(name)]
		if !ok {
			return pool.Pool{}, pool.NotFound(name)
		}
		return p, nil
	}
	s := &Service{}
	s.ListFn = func(_ context.Context, opts pool.ListOptions) ([]pool.Pool, error) {
		mu.Lock()
		defer mu.Unlock()
		out := make([]pool.Pool, 0, len(byName))
		for _, p := range byName {
			if !opts.Nodes {
				p.Nodes, p.Counts = nil, pool.Counts{}
			}
			out = append(out, p)
		}
		slices.SortFunc(out, func(a, b pool.Pool) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	s.GetFn = func(_ context.Context, name string) (pool.Pool, error) {
		mu.Lock()
		defer mu.Unlock()
		return find(name)
	}
	s.LogsFn = func(context.Context, string, uint64) ([]pool.LogEntry, error) { return nil, nil }
	s.UpdateFn = func(_ context.Context, cur pool.Pool, st pool.Settings) (pool.Pool, error) {
		mu.Lock()
		defer mu.Unlock()
		// As Azure DevOps does: the fields st sets, over the pool it has.
		now, err := find(cur.Name)
		if err != nil {
			return pool.Pool{}, err
		}
		if err := st.Validate(now); err != nil {
			return pool.Pool{}, &pool.Error{Kind: pool.KindInvalid, Op: "update pool", Pool: cur.Name, Msg: err.Error(), Err: err}
		}
		after := st.Apply(now)
		byName[strings.ToLower(cur.Name)] = after
		return after, nil
	}
	return s
}
