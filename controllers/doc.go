// Package controllers reconciles LoyaltyPrograms, Tiers, RewardCatalogs and
// Campaigns into running, configured points engines.
package controllers

// The manager reads every loyalty kind and writes only their status.
// +kubebuilder:rbac:groups=loyaltyops.io,resources=loyaltyprograms;tiers;rewardcatalogs;campaigns,verbs=get;list;watch
// +kubebuilder:rbac:groups=loyaltyops.io,resources=loyaltyprograms/status;tiers/status;rewardcatalogs/status;campaigns/status,verbs=get;update;patch
