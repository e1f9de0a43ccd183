// Package deploy holds fsad's deployment artefacts and their tests; it has no Go API.
//
//   - fsad.Dockerfile: the image (multi-stage, static CGO_ENABLED=0 build, distroless, uid
//     65532, version by -ldflags "-X main.version=..."), with fsad.Dockerfile.dockerignore.
//   - fsad-pod: the StatefulSet's launcher in that image (bootstrap on ordinal 0's first start,
//     join elsewhere), since the image has no shell.
//   - kubernetes/: kustomize manifests of a three-node fsad StatefulSet: Namespace,
//     ServiceAccount/Role/RoleBinding, ConfigMap, headless and client Services, StatefulSet
//     with volumeClaimTemplates, PodDisruptionBudget. The Secret fsad-secrets (signing key,
//     admin token) is created by the operator, never committed.
//
// The tests check the Dockerfile's structure, build both binaries statically as the Dockerfile
// does, and apply every manifest to the local control plane (internal/devenv/k8stest) with server-side
// apply and dry run, strict field validation included; broken copies must be refused.
// Operations (bootstrap, membership, backup, upgrades, metrics): docs/operations.md.
package deploy
