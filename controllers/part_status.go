package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// partStatus says whether a Tier, RewardCatalog or Campaign is in effect
// in its program, using the same resolution the program controller renders
// its snapshot from.
func partStatus(ctx context.Context, c client.Reader, namespace, program string, ref render.ObjectRef) (kstatus, error) {
	objs, err := loadProgramObjects(ctx, c, namespace, program)
	if err != nil {
		return kstatus{}, err
	}
	if objs.Program == nil {
		return kstatus{
			reason:  ReasonProgramNotFound,
			message: fmt.Sprintf("LoyaltyProgram %s not found in namespace %s; %s takes effect as soon as it is created", program, namespace, ref),
		}, nil
	}
	res := render.Resolve(objs)
	if res.ProgramProblem != "" {
		return kstatus{
			reason:  "ProgramInvalid",
			message: fmt.Sprintf("LoyaltyProgram %s cannot be rendered: %s", program, res.ProgramProblem),
		}, nil
	}
	if problem, left := res.Problems[ref]; left {
		return kstatus{stalled: true, reason: problem.Reason, message: problem.Message}, nil
	}
	return kstatus{ready: true, reason: ReasonReconciled, message: fmt.Sprintf("in effect in LoyaltyProgram %s", program)}, nil
}

// patchStatus writes obj's status when it differs from before, and never otherwise.
func patchStatus(ctx context.Context, c client.Client, obj, before client.Object) error {
	patch := client.MergeFrom(before)
	data, err := patch.Data(obj)
	if err != nil {
		return fmt.Errorf("computing status patch: %w", err)
	}
	if string(data) == "{}" {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}
