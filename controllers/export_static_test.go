package controllers

import "time"

// SetCopyLimits shrinks one migration pass (objects per listing page, time per pass) so a test can
// restart the controller while a copy is under way; it returns a function restoring the limits.
// Call it before the manager starts and restore it after the manager stops.
func SetCopyLimits(pageSize int32, budget time.Duration) (restore func()) {
	oldPage, oldBudget := copyPageSize, copyBudget
	copyPageSize, copyBudget = pageSize, budget
	return func() { copyPageSize, copyBudget = oldPage, oldBudget }
}
