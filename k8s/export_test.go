package k8s

// Exported for the black-box tests in package k8s_test.
var APIError = apiError
