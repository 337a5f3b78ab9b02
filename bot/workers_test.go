package bot

import (
	"context"
	"testing"
)

func TestWorkersFull(t *testing.T) {
	tests := []struct {
		name          string
		queue, queued int
		want          bool
	}{
		{"unbuffered is never full", -1, 0, false},
		{"empty queue", 2, 0, false},
		{"one free slot", 2, 1, false},
		{"full", 2, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			started := make(chan struct{})
			w := NewWorkers(1, tt.queue, discardLog)
			block := func(context.Context) {
				select {
				case started <- struct{}{}:
				default:
				}
				<-release
			}
			if tt.queue >= 0 {
				// Occupy the one worker, so that what follows stays queued.
				if !w.Submit(block) {
					t.Fatal("first job refused")
				}
				<-started
			}
			for i := range tt.queued {
				if !w.Submit(block) {
					t.Fatalf("job %d refused", i)
				}
			}
			if got := w.Full(); got != tt.want {
				t.Errorf("Full() = %v with %d of %d queued, want %v", got, w.Queued(), tt.queue, tt.want)
			}
			if tt.want && w.Submit(block) {
				t.Error("Submit took a job while Full")
			}
			close(release)
			if err := w.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
