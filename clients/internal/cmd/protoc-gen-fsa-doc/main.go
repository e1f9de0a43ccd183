// Command protoc-gen-fsa-doc is a protoc/buf plugin that writes api.md, the
// Markdown API reference of the files it is asked to generate (one proto
// package), from their comments. buf runs it from clients/buf.gen.yaml with
// strategy "all" so that it sees every file at once.
package main

import (
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/fullstackagent/fsa/clients/internal/apidoc"
)

func main() {
	protogen.Options{}.Run(func(p *protogen.Plugin) error {
		p.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
		var files []protoreflect.FileDescriptor
		for _, f := range p.Files {
			if f.Generate {
				files = append(files, f.Desc)
			}
		}
		if len(files) == 0 {
			return nil
		}
		out, err := apidoc.Render(files)
		if err != nil {
			return err
		}
		_, err = p.NewGeneratedFile("api.md", "").Write(out)
		return err
	})
}
