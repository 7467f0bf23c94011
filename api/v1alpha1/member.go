package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The accessors below let the controllers treat the kinds that belong to a
// program (Tier, RewardCatalog, Campaign) alike.

// ProgramName is the program the Tier belongs to.
func (t *Tier) ProgramName() string { return t.Spec.ProgramRef.Name }

// StatusConditions are the Tier's conditions, for updating in place.
func (t *Tier) StatusConditions() *[]metav1.Condition { return &t.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (t *Tier) SetObservedGeneration(g int64) { t.Status.ObservedGeneration = g }

// ProgramName is the program the RewardCatalog belongs to.
func (c *RewardCatalog) ProgramName() string { return c.Spec.ProgramRef.Name }

// StatusConditions are the RewardCatalog's conditions, for updating in place.
func (c *RewardCatalog) StatusConditions() *[]metav1.Condition { return &c.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (c *RewardCatalog) SetObservedGeneration(g int64) { c.Status.ObservedGeneration = g }

// ProgramName is the program the Campaign belongs to.
func (c *Campaign) ProgramName() string { return c.Spec.ProgramRef.Name }

// StatusConditions are the Campaign's conditions, for updating in place.
func (c *Campaign) StatusConditions() *[]metav1.Condition { return &c.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (c *Campaign) SetObservedGeneration(g int64) { c.Status.ObservedGeneration = g }
