// Package argocd holds the Argo CD health checks of the loyaltyops.io kinds:
// Lua scripts under health/, in the layout of Argo CD's
// resource_customizations directory, and the argocd-cm patch that installs
// them. Its tests run every script on every case of its health_test.yaml.
package argocd
