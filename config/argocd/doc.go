// Package argocd holds the Argo CD health check for SecureSite (health.lua) and the argocd-cm
// snippet that installs it, and Evaluate, which runs the script the way Argo CD does (for tests).
package argocd

import _ "embed"

// HealthLua is the health check script, for tools that install it programmatically.
//
//go:embed health.lua
var HealthLua string
