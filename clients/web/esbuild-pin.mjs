// pinDeps is an esbuild plugin: bare imports of @bufbuild/* and @connectrpc/*
// resolve from dir's node_modules wherever the importing file lives (the
// generated code in clients/ts/src/gen included), so a bundle holds exactly
// one copy of each dependency, at the versions of this package's lock file,
// whatever is (or is not) installed in clients/ts.
export function pinDeps(dir) {
  return {
    name: "pin-deps",
    setup(build) {
      build.onResolve({ filter: /^@(bufbuild|connectrpc)\// }, async (args) => {
        if (args.pluginData === "pinned") return undefined;
        const r = await build.resolve(args.path, { kind: args.kind, resolveDir: dir, pluginData: "pinned" });
        if (r.errors.length > 0) return { errors: r.errors };
        return { path: r.path };
      });
    },
  };
}
