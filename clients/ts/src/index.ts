// @fullstackagent/fsa-client: the TypeScript client of the fsa API.
//
// It re-exports the generated message types and service descriptors of the
// fsa.v1 package (see src/gen, generated from clients/proto) and offers
// createFsaClient (or createClient), which builds typed clients for every
// service over the Connect protocol with fetch, so it runs in browsers and in
// Node 20 or later, and watchProjects, a WatchProjects stream that resumes
// after disconnects.
//
//   const fsa = createFsaClient({ baseUrl: "https://fsa.example.com", tokenProvider: () => localStorage.getItem("fsa-token") ?? undefined });
//   const { project } = await fsa.projects.createProject({ name: "demo" });
//   await watchProjects(fsa, { fromRevision: project!.version, signal, onEvent: (ev) => console.log(ev) });

export * from "./gen/fsa/v1/auth_pb.js";
export * from "./gen/fsa/v1/cluster_pb.js";
export * from "./gen/fsa/v1/environment_pb.js";
export * from "./gen/fsa/v1/errors_pb.js";
export * from "./gen/fsa/v1/project_pb.js";
export * from "./gen/fsa/v1/quota_pb.js";
export * from "./gen/fsa/v1/resources_pb.js";
export * from "./gen/fsa/v1/sandbox_pb.js";
export * from "./gen/fsa/v1/sizes_pb.js";
export * from "./gen/fsa/v1/user_config_pb.js";

export * from "./client.js";
export * from "./sandbox.js";
export * from "./watch.js";
