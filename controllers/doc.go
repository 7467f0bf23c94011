// Package controllers reconciles LoyaltyPrograms, Tiers, RewardCatalogs and
// Campaigns into running, configured points engines.
package controllers

// Every controller reports status on its own kind, with one patch (no
// read of the status subresource).
// +kubebuilder:rbac:groups=loyaltyops.io,resources=tiers;rewardcatalogs;campaigns,verbs=get;list;watch
// +kubebuilder:rbac:groups=loyaltyops.io,resources=loyaltyprograms/status;tiers/status;rewardcatalogs/status;campaigns/status,verbs=patch
