package apidoc_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	_ "google.golang.org/protobuf/types/known/timestamppb" // registers google/protobuf/timestamp.proto

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/internal/apidoc"
)

// demoFile is the descriptor protoc would produce for this file, comments
// included (source_code_info paths: 2 package, 4 message, 5 enum, 6 service,
// then 2 field/value/method, 8 oneof):
//
//	syntax = "proto3";
//	// Package demo.v1 is a test package.
//	//
//	// ## Usage
//	//
//	// Call it.
//	package demo.v1;
//	import "google/protobuf/timestamp.proto";
//	// Greeter greets.
//	service Greeter {
//	  // Greet says hello. Then more.
//	  rpc Greet(GreetRequest) returns (GreetResponse);
//	  // Watch streams greetings.
//	  rpc Watch(GreetRequest) returns (stream GreetResponse);
//	}
//	// GreetRequest asks for a greeting.
//	message GreetRequest {
//	  // Who to greet | pipe.
//	  //
//	  // Second paragraph.
//	  string user_name = 1;
//	  // Optional mood.
//	  optional Mood mood = 2;
//	  // Where to send it.
//	  oneof target {
//	    // Email address.
//	    string email = 3;
//	  }
//	  // Times.
//	  repeated google.protobuf.Timestamp times = 4;
//	}
//	// GreetResponse answers.
//	message GreetResponse {}
//	// Mood is a mood.
//	enum Mood {
//	  // Unknown.
//	  MOOD_UNSPECIFIED = 0;
//	  // Happy.
//	  MOOD_HAPPY = 1;
//	}
const demoFile = `
name: "demo/v1/demo.proto"
package: "demo.v1"
dependency: "google/protobuf/timestamp.proto"
syntax: "proto3"
message_type: {
  name: "GreetRequest"
  field: { name: "user_name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "userName" }
  field: { name: "mood" number: 2 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".demo.v1.Mood" oneof_index: 1 json_name: "mood" proto3_optional: true }
  field: { name: "email" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 json_name: "email" }
  field: { name: "times" number: 4 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" json_name: "times" }
  oneof_decl: { name: "target" }
  oneof_decl: { name: "_mood" }
}
message_type: { name: "GreetResponse" }
enum_type: {
  name: "Mood"
  value: { name: "MOOD_UNSPECIFIED" number: 0 }
  value: { name: "MOOD_HAPPY" number: 1 }
}
service: {
  name: "Greeter"
  method: { name: "Greet" input_type: ".demo.v1.GreetRequest" output_type: ".demo.v1.GreetResponse" }
  method: { name: "Watch" input_type: ".demo.v1.GreetRequest" output_type: ".demo.v1.GreetResponse" server_streaming: true }
}
source_code_info: {
  location: { path: [2] span: [1, 0, 16] leading_comments: " Package demo.v1 is a test package.\n\n ## Usage\n\n Call it.\n" }
  location: { path: [6, 0] span: [3, 0, 10] leading_comments: " Greeter greets.\n" }
  location: { path: [6, 0, 2, 0] span: [4, 2, 10] leading_comments: " Greet says hello. Then more.\n" }
  location: { path: [6, 0, 2, 1] span: [5, 2, 10] leading_comments: " Watch streams greetings.\n" }
  location: { path: [4, 0] span: [6, 0, 10] leading_comments: " GreetRequest asks for a greeting.\n" }
  location: { path: [4, 0, 2, 0] span: [7, 2, 10] leading_comments: " Who to greet | pipe.\n\n Second paragraph.\n" }
  location: { path: [4, 0, 2, 1] span: [8, 2, 10] leading_comments: " Optional mood.\n" }
  location: { path: [4, 0, 8, 0] span: [9, 2, 10] leading_comments: " Where to send it.\n" }
  location: { path: [4, 0, 2, 2] span: [10, 2, 10] leading_comments: " Email address.\n" }
  location: { path: [4, 0, 2, 3] span: [11, 2, 10] leading_comments: " Times.\n" }
  location: { path: [4, 1] span: [12, 0, 10] leading_comments: " GreetResponse answers.\n" }
  location: { path: [5, 0] span: [13, 0, 10] leading_comments: " Mood is a mood.\n" }
  location: { path: [5, 0, 2, 0] span: [14, 2, 10] leading_comments: " Unknown.\n" }
  location: { path: [5, 0, 2, 1] span: [15, 2, 10] leading_comments: " Happy.\n" }
}
`

func demoDescriptor(t *testing.T, name, pkg string) protoreflect.FileDescriptor {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{}
	require.NoError(t, prototext.Unmarshal([]byte(demoFile), fdp))
	fdp.Name = &name
	fdp.Package = &pkg
	if pkg != "demo.v1" { // keep type references resolvable in the renamed package
		for _, m := range fdp.MessageType {
			for _, f := range m.Field {
				if f.TypeName != nil && strings.HasPrefix(*f.TypeName, ".demo.v1.") {
					tn := "." + pkg + strings.TrimPrefix(*f.TypeName, ".demo.v1")
					f.TypeName = &tn
				}
			}
		}
		for _, s := range fdp.Service {
			for _, m := range s.Method {
				in, out := "."+pkg+strings.TrimPrefix(*m.InputType, ".demo.v1"), "."+pkg+strings.TrimPrefix(*m.OutputType, ".demo.v1")
				m.InputType, m.OutputType = &in, &out
			}
		}
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	require.NoError(t, err)
	return fd
}

func TestRenderDemo(t *testing.T) {
	out, err := apidoc.Render([]protoreflect.FileDescriptor{demoDescriptor(t, "demo/v1/demo.proto", "demo.v1")})
	require.NoError(t, err)
	doc := string(out)

	tests := []struct {
		name string
		want string
	}{
		{"generated marker", "<!-- Code generated by protoc-gen-fsa-doc. DO NOT EDIT. -->\n\n# API reference: demo.v1\n"},
		{"overview with demoted headings", "## Overview\n\nPackage demo.v1 is a test package.\n\n### Usage\n\nCall it.\n"},
		{"file table", "| `demo/v1/demo.proto` | Package overview and conventions (above). |"},
		{"service anchor and comment", "<a id=\"demo.v1.Greeter\"></a>\n\n### Greeter\n\nGreeter greets.\n"},
		{"rpc row with first sentence", "| [Greet](#demo.v1.Greeter.Greet) | [GreetRequest](#demo.v1.GreetRequest) | [GreetResponse](#demo.v1.GreetResponse) | Greet says hello. |"},
		{"streaming rpc row", "| [Watch](#demo.v1.Greeter.Watch) | [GreetRequest](#demo.v1.GreetRequest) | stream [GreetResponse](#demo.v1.GreetResponse) |"},
		{"rpc section", "#### Greeter.Watch\n\n`rpc Watch(GreetRequest) returns (stream GreetResponse)`\n\nWatch streams greetings.\n"},
		{"field with JSON name, escaped pipe and paragraphs", "| `user_name`<br>JSON `userName` | `string` | Who to greet \\| pipe.<br><br>Second paragraph. |"},
		{"proto3 optional enum field", "| `mood` | optional [Mood](#demo.v1.Mood) | Optional mood. |"},
		{"oneof member", "| `email` | `string` | One of `target`. Email address. |"},
		{"repeated foreign message", "| `times` | repeated `google.protobuf.Timestamp` | Times. |"},
		{"empty message", "### GreetResponse\n\nGreetResponse answers.\n\nNo fields.\n"},
		{"enum values", "| `MOOD_HAPPY` | 1 | Happy. |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, doc, tt.want)
		})
	}

	// Messages come in name order, after the services and before the enums.
	order := []string{"## Services", "### GreetRequest", "### GreetResponse", "## Enums", "### Mood"}
	last := -1
	for _, h := range order {
		i := strings.Index(doc, h)
		require.Greater(t, i, last, "%q out of order", h)
		last = i
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	fd := demoDescriptor(t, "demo/v1/demo.proto", "demo.v1")
	a, err := apidoc.Render([]protoreflect.FileDescriptor{fd})
	require.NoError(t, err)
	b, err := apidoc.Render([]protoreflect.FileDescriptor{fd})
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
}

func TestRenderErrors(t *testing.T) {
	_, err := apidoc.Render(nil)
	require.Error(t, err)

	a := demoDescriptor(t, "demo/v1/demo.proto", "demo.v1")
	b := demoDescriptor(t, "other/v1/demo.proto", "other.v1")
	_, err = apidoc.Render([]protoreflect.FileDescriptor{a, b})
	require.ErrorIs(t, err, apidoc.ErrMixedPackages)
}

// TestRenderFSA renders the real contract (from the descriptors compiled into
// the generated Go code, which carry no comments) and checks that every
// service, RPC, message and enum gets a section.
func TestRenderFSA(t *testing.T) {
	files := []protoreflect.FileDescriptor{
		fsav1.File_fsa_v1_errors_proto,
		fsav1.File_fsa_v1_resources_proto,
		fsav1.File_fsa_v1_project_proto,
		fsav1.File_fsa_v1_environment_proto,
		fsav1.File_fsa_v1_user_config_proto,
		fsav1.File_fsa_v1_auth_proto,
		fsav1.File_fsa_v1_cluster_proto,
	}
	out, err := apidoc.Render(files)
	require.NoError(t, err)
	doc := string(out)

	for _, f := range files {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			assert.Contains(t, doc, `<a id="`+string(s.FullName())+`">`)
			for j := range s.Methods().Len() {
				assert.Contains(t, doc, `<a id="`+string(s.Methods().Get(j).FullName())+`">`)
			}
		}
		for i := range f.Messages().Len() {
			assert.Contains(t, doc, `<a id="`+string(f.Messages().Get(i).FullName())+`">`)
		}
		for i := range f.Enums().Len() {
			assert.Contains(t, doc, `<a id="`+string(f.Enums().Get(i).FullName())+`">`)
		}
	}
	assert.Contains(t, doc, "`rpc WatchProjects(WatchProjectsRequest) returns (stream WatchProjectsResponse)`")
}
