package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// Actor is one unit of concurrency: Run owns its state until ctx is cancelled,
// then returns. Run must return promptly once ctx is done.
type Actor interface {
	Run(ctx context.Context) error
}

// Func adapts a function to Actor.
type Func func(ctx context.Context) error

// Run calls f.
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// ErrDoNotRestart, wrapped in an actor's error, tells the supervisor to leave the
// actor failed instead of restarting it.
var ErrDoNotRestart = errors.New("do not restart")

// PanicError is the error a supervised actor's panic becomes.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// runProtected runs a, turning a panic into a *PanicError.
func runProtected(ctx context.Context, a Actor) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return a.Run(ctx)
}

var _ Actor = Func(nil)
