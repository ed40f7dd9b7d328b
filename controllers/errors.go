package controllers

import (
	"errors"
	"fmt"
)

// stalledError is a problem only the user can fix (an invalid spec, a conflict with an object we do
// not own that will not go away by waiting). The reconciler reports Stalled=True and does not
// return the error, so the rate limiter does not retry it in a storm; a spec change wakes it.
type stalledError struct {
	reason  string
	message string
}

func (e *stalledError) Error() string { return e.message }

func stalled(reason, format string, args ...any) error {
	return &stalledError{reason: reason, message: fmt.Sprintf(format, args...)}
}

func asStalled(err error) (*stalledError, bool) {
	var s *stalledError
	ok := errors.As(err, &s)
	return s, ok
}
