package k8s

import appsv1 "k8s.io/api/apps/v1"

// Exported for the black-box tests in package k8s_test.
var APIError = apiError

// TypedDiffers and ConvertedDiffers are the two halves of Differs.
var (
	TypedDiffers     = typedDiffers
	ConvertedDiffers = convertedDiffers
)

// DesiredSandbox is what Plan compares with live: the objects of spec as prepared for c, over
// the live StatefulSet sts (nil when absent).
func DesiredSandbox(c *Client, spec SandboxSpec, sts *appsv1.StatefulSet) (SandboxObjects, error) {
	spec, err := SandboxManager{}.prepare(c, spec)
	if err != nil {
		return SandboxObjects{}, err
	}
	if sts != nil {
		spec = spec.over(sts)
	}
	return BuildSandbox(spec), nil
}
