// Typed clients of the fsa.v1 services with the session token attached.

import {
  createClient as createServiceClient,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { AuthService } from "./gen/fsa/v1/auth_pb.js";
import { ClusterService } from "./gen/fsa/v1/cluster_pb.js";
import { EnvironmentService } from "./gen/fsa/v1/environment_pb.js";
import { ProjectService } from "./gen/fsa/v1/project_pb.js";
import { QuotaService } from "./gen/fsa/v1/quota_pb.js";
import { SandboxService } from "./gen/fsa/v1/sandbox_pb.js";
import { UserConfigService } from "./gen/fsa/v1/user_config_pb.js";

/**
 * Returns the current session token (AuthService's Session.token), or
 * undefined when there is none: the request is then sent without credentials,
 * which only the login RPCs accept. It is called before every request, so a
 * token that changes (log in, log out) is picked up at once.
 */
export type TokenProvider = () => string | undefined | Promise<string | undefined>;

/**
 * authInterceptor sends the token of tokenProvider as
 * `Authorization: Bearer <token>` on every request.
 */
export function authInterceptor(tokenProvider: TokenProvider): Interceptor {
  return (next) => async (req) => {
    const token = await tokenProvider();
    if (token) {
      req.header.set("Authorization", `Bearer ${token}`);
    }
    return next(req);
  };
}

/** Options of createClient. */
export interface ClientOptions {
  /** Use the binary protobuf encoding instead of JSON (default false). */
  useBinaryFormat?: boolean;
  /**
   * Send RPCs without side effects (marked NO_SIDE_EFFECTS in the contract:
   * Get*, List*, ExplainProject, WhoAmI, GetClusterStatus) as HTTP GET
   * requests (default false).
   */
  useHttpGet?: boolean;
  /** Interceptors run after the auth interceptor, in order. */
  interceptors?: Interceptor[];
  /** fetch to use instead of globalThis.fetch (for tests, or custom agents). */
  fetch?: typeof globalThis.fetch;
}

/** FsaClient holds one typed client per fsa.v1 service, sharing a transport. */
export interface FsaClient {
  /** Accounts and sessions. */
  readonly auth: Client<typeof AuthService>;
  /** The caller's projects. */
  readonly projects: Client<typeof ProjectService>;
  /** Environment variables of the caller's projects. */
  readonly environment: Client<typeof EnvironmentService>;
  /** The caller's own configuration. */
  readonly userConfig: Client<typeof UserConfigService>;
  /** Raft cluster administration (admin role). */
  readonly cluster: Client<typeof ClusterService>;
  /** Commands, files and logs of the caller's running sandboxes (see sandbox.ts). */
  readonly sandbox: Client<typeof SandboxService>;
  /** The caller's limits and use, the size classes, and (admin role) a user's limits. */
  readonly quota: Client<typeof QuotaService>;
  /** The transport the clients share, for clients of other services. */
  readonly transport: Transport;
}

/**
 * createClient connects to the fsa daemon at baseUrl (for example
 * "https://fsa.example.com") with the Connect protocol.
 */
export function createClient(
  baseUrl: string,
  tokenProvider: TokenProvider = () => undefined,
  options: ClientOptions = {},
): FsaClient {
  const transport = createConnectTransport({
    baseUrl,
    useBinaryFormat: options.useBinaryFormat ?? false,
    useHttpGet: options.useHttpGet ?? false,
    interceptors: [authInterceptor(tokenProvider), ...(options.interceptors ?? [])],
    fetch: options.fetch,
  });
  return {
    auth: createServiceClient(AuthService, transport),
    projects: createServiceClient(ProjectService, transport),
    environment: createServiceClient(EnvironmentService, transport),
    userConfig: createServiceClient(UserConfigService, transport),
    cluster: createServiceClient(ClusterService, transport),
    sandbox: createServiceClient(SandboxService, transport),
    quota: createServiceClient(QuotaService, transport),
    transport,
  };
}

/** Options of createFsaClient. */
export interface FsaClientOptions extends ClientOptions {
  /** API base URL of fsad, for example "https://fsa.example.com". */
  baseUrl: string;
  /** A fixed session token. Ignored when tokenProvider is set. */
  token?: string;
  /** Returns the session token before every request (see TokenProvider). */
  tokenProvider?: TokenProvider;
}

/**
 * createFsaClient is createClient with named options:
 *
 *   const fsa = createFsaClient({ baseUrl: "http://127.0.0.1:8080", token });
 */
export function createFsaClient(options: FsaClientOptions): FsaClient {
  const { baseUrl, token, tokenProvider, ...rest } = options;
  return createClient(baseUrl, tokenProvider ?? (() => token), rest);
}
