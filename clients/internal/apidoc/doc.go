// Package apidoc renders the Markdown API reference of a protobuf package
// from its descriptors and their source comments.
//
// It is the engine of protoc-gen-fsa-doc, which `make clients-generate` runs
// over clients/proto to write clients/gen/api.md. The comments in the .proto
// files are the documentation: Render only arranges them (services with their
// RPCs, then messages and enums in name order, each with a table of its
// fields or values) and links every type to its section.
//
// Contract: the output is a pure function of the descriptors (sorted, no
// timestamps), so regenerating an unchanged contract yields identical bytes.
package apidoc
