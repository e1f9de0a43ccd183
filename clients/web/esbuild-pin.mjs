// pinnedDeps is esbuild's `alias` option for the console's bundles: bare
// imports of these packages (the generated code in clients/ts/src/gen
// included) resolve from the build's working directory, clients/web, instead
// of the importing file's. So a bundle holds exactly one (ESM) copy of each,
// at the versions of this package's lock file, whatever is or is not
// installed in clients/ts. (An alias rather than a resolve plugin: esbuild's
// output stays byte-for-byte deterministic, which plugins' async resolution
// did not guarantee.)
export const pinnedDeps = {
  "@bufbuild/protobuf": "@bufbuild/protobuf",
  "@connectrpc/connect": "@connectrpc/connect",
  "@connectrpc/connect-web": "@connectrpc/connect-web",
};
