// The fsa API as the console uses it: the generated fsa.v1 stubs (generated
// from clients/proto into clients/ts/src/gen) over @connectrpc/connect-web.
//
// The console imports the generated code, not the clients/ts package entry
// point, so that its committed bundle (daemon/ui/dist) changes only when the
// console or the wire contract changes.

import { createClient as createServiceClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { AuthService } from "../../ts/src/gen/fsa/v1/auth_pb.js";
import { EnvironmentService } from "../../ts/src/gen/fsa/v1/environment_pb.js";
import { ProjectService } from "../../ts/src/gen/fsa/v1/project_pb.js";
import { SandboxService } from "../../ts/src/gen/fsa/v1/sandbox_pb.js";
import { QuotaService } from "../../ts/src/gen/fsa/v1/quota_pb.js";
import { UserConfigService } from "../../ts/src/gen/fsa/v1/user_config_pb.js";

export { EnvironmentService, ProjectService, SandboxService };
export type { FileInfo } from "../../ts/src/gen/fsa/v1/sandbox_pb.js";
export type { EnvVar } from "../../ts/src/gen/fsa/v1/environment_pb.js";
export { EventType } from "../../ts/src/gen/fsa/v1/project_pb.js";
export type { Explanation, WatchProjectsResponse } from "../../ts/src/gen/fsa/v1/project_pb.js";
export { Provider } from "../../ts/src/gen/fsa/v1/auth_pb.js";
export type { Identity } from "../../ts/src/gen/fsa/v1/auth_pb.js";
export { LifecycleAction, ResourceKind, Status } from "../../ts/src/gen/fsa/v1/resources_pb.js";
export type { Database, Project, ProjectLifecycle, Sandbox } from "../../ts/src/gen/fsa/v1/resources_pb.js";
export type { Quota } from "../../ts/src/gen/fsa/v1/quota_pb.js";
export type { LifecycleDefaults } from "../../ts/src/gen/fsa/v1/user_config_pb.js";

/** FsaClient holds a typed client per service the console calls. */
export interface FsaClient {
  readonly auth: Client<typeof AuthService>;
  readonly projects: Client<typeof ProjectService>;
  readonly environment: Client<typeof EnvironmentService>;
  readonly userConfig: Client<typeof UserConfigService>;
  readonly sandbox: Client<typeof SandboxService>;
  readonly quota: Client<typeof QuotaService>;
}

/**
 * createClient talks to fsad at baseUrl with the Connect protocol (JSON),
 * sending token() as `Authorization: Bearer …` when there is one. The
 * sandbox service (file content, logs) uses the binary format: bytes travel
 * as they are instead of growing by a third in base64, so an upload can use
 * all of the server's message limit.
 */
export function createClient(baseUrl: string, token: () => string | undefined): FsaClient {
  const auth: Interceptor = (next) => async (req) => {
    const t = token();
    if (t) req.header.set("Authorization", `Bearer ${t}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl, interceptors: [auth] });
  const binary = createConnectTransport({ baseUrl, interceptors: [auth], useBinaryFormat: true });
  return {
    auth: createServiceClient(AuthService, transport),
    projects: createServiceClient(ProjectService, transport),
    environment: createServiceClient(EnvironmentService, transport),
    userConfig: createServiceClient(UserConfigService, transport),
    sandbox: createServiceClient(SandboxService, binary),
    quota: createServiceClient(QuotaService, transport),
  };
}
