package k8s

import (
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Quantities for callers that keep sizes as plain numbers (the fsa SDK records millicores and
// bytes): parsed and printed in Kubernetes' quantity syntax ("500m", "2", "1Gi", "512M").

// ParseMilli parses a CPU quantity ("500m", "2", "1.5") into millicores. Negative values and
// values below one millicore are refused.
func ParseMilli(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity (like 500m or 2): %w", s, err)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if q.Cmp(*resource.NewQuantity(math.MaxInt64/1000, resource.DecimalSI)) > 0 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return q.MilliValue(), nil
}

// ParseBytes parses a byte quantity ("1Gi", "512Mi", "5G") into bytes, rounding a fraction of a
// byte up. Negative values are refused.
func ParseBytes(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity (like 512Mi or 5Gi): %w", s, err)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	n, ok := q.AsInt64()
	if !ok {
		if q.Cmp(*resource.NewQuantity(math.MaxInt64, resource.BinarySI)) > 0 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = q.Value() // rounds a fraction up
	}
	return n, nil
}

// MilliQuantity is millicores as a quantity ("500m", "2").
func MilliQuantity(milli int64) resource.Quantity {
	return *resource.NewMilliQuantity(milli, resource.DecimalSI)
}

// ByteQuantity is bytes as a quantity, in binary units where exact ("1Gi", "1536Mi").
func ByteQuantity(n int64) resource.Quantity {
	return *resource.NewQuantity(n, resource.BinarySI)
}

// FormatMilli prints millicores as Kubernetes does ("500m", "2").
func FormatMilli(milli int64) string {
	q := MilliQuantity(milli)
	return q.String()
}

// FormatBytes prints bytes as Kubernetes does ("1Gi", "1536Mi", "1000").
func FormatBytes(n int64) string {
	q := ByteQuantity(n)
	return q.String()
}
