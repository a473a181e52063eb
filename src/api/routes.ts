/**
 * The one definition of the API: every route with its method, path, pgorole permission, request and
 * response schemas, and the messages shared by server, WebSocket and CLI. The server dispatches from
 * this table, the CLI builds its requests from it, the OpenAPI document and the tests iterate over it.
 */
import type { z } from 'zod';
import type { Permission } from './permissions.ts';
import * as s from './schemas.ts';

/** HTTP methods used by the API. */
export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One route. Path parameters are `{name}`; every one of them must be a DNS label (or object name for tasks). */
export interface Route {
  id: string;
  method: Method;
  path: string;
  /** Permission needed; the namespace in the path (or `namespace` query) must also be one of the user's. */
  permission: Permission;
  summary: string;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  /** Answered with 501 and this message: the backend does not exist yet. */
  notImplemented?: string;
  /** Upgraded to a WebSocket. */
  websocket?: boolean;
}

/** API version prefix. */
export const API_PREFIX = '/api/v1';
const ns = `${API_PREFIX}/namespaces/{namespace}`;
const cl = `${ns}/clusters/{name}`;

/** Messages shared by server and CLI. */
export const MESSAGES = {
  unauthenticated: 'not authenticated: give a valid pgouser name and password (PGOUSER file or ~/.pgouser, "user:password")',
  locked: (seconds: number) => `too many failed logins for this user from this address; try again in ${seconds} s`,
  forbidden: (user: string, permission: string) => `not authorized: pgouser ${user} lacks the permission ${permission}`,
  namespaceForbidden: (user: string, namespace: string) => `not authorized: pgouser ${user} is not allowed access to namespace ${namespace}`,
  notImplemented: (what: string) => `${what} is not implemented yet in this version of pg-operator; nothing was done`,
  tooLarge: (limit: number) => `request body larger than ${limit} bytes`,
  malformedJson: (detail: string) => `malformed JSON body: ${detail}`,
  ambiguousJson: (detail: string) => `ambiguous JSON body: ${detail}`,
  plainHttp: 'this API only speaks HTTPS; use https:// (PGO_APISERVER_URL)',
  notFound: (what: string) => `${what} not found`,
  noRoute: (method: string, path: string) => `no route ${method} ${path}`,
  confirm: 'WARNING: Are you sure? (yes/no): ',
  noPromptNeeded: 'refusing to ask for confirmation without a terminal: pass --no-prompt to confirm',
} as const;

/** Text shown by 501 answers, per data operation. */

/** Every route of the API. */
export const ROUTES = [
  { id: 'version', method: 'GET', path: `${API_PREFIX}/version`, permission: 'Version', summary: 'server version', response: s.versionResult },
  { id: 'machine', method: 'GET', path: `${API_PREFIX}/machine`, permission: 'ShowCluster', summary: "the cluster machine's states (visualizer)", response: s.machineInfo },
  { id: 'events', method: 'GET', path: `${API_PREFIX}/events`, permission: 'ShowCluster', summary: 'WebSocket: actor transitions, Kubernetes Events, task progress', query: s.eventsQuery, response: s.streamEvent, websocket: true },

  { id: 'pgouser.create', method: 'POST', path: `${API_PREFIX}/pgousers`, permission: 'CreatePgouser', summary: 'create a pgouser', body: s.pgouserCreateBody, response: s.pgouserInfo },
  { id: 'pgouser.list', method: 'GET', path: `${API_PREFIX}/pgousers`, permission: 'ShowPgouser', summary: 'list pgousers', response: s.pgouserList },
  { id: 'pgouser.get', method: 'GET', path: `${API_PREFIX}/pgousers/{name}`, permission: 'ShowPgouser', summary: 'show a pgouser', response: s.pgouserInfo },
  { id: 'pgouser.update', method: 'PATCH', path: `${API_PREFIX}/pgousers/{name}`, permission: 'UpdatePgouser', summary: 'update a pgouser', body: s.pgouserUpdateBody, response: s.pgouserInfo },
  { id: 'pgouser.delete', method: 'DELETE', path: `${API_PREFIX}/pgousers/{name}`, permission: 'DeletePgouser', summary: 'delete a pgouser', response: s.messageResult },
  { id: 'pgorole.create', method: 'POST', path: `${API_PREFIX}/pgoroles`, permission: 'CreatePgorole', summary: 'create a pgorole', body: s.pgoroleCreateBody, response: s.pgoroleInfo },
  { id: 'pgorole.list', method: 'GET', path: `${API_PREFIX}/pgoroles`, permission: 'ShowPgorole', summary: 'list pgoroles', response: s.pgoroleList },
  { id: 'pgorole.get', method: 'GET', path: `${API_PREFIX}/pgoroles/{name}`, permission: 'ShowPgorole', summary: 'show a pgorole', response: s.pgoroleInfo },
  { id: 'pgorole.update', method: 'PATCH', path: `${API_PREFIX}/pgoroles/{name}`, permission: 'UpdatePgorole', summary: 'update a pgorole', body: s.pgoroleUpdateBody, response: s.pgoroleInfo },
  { id: 'pgorole.delete', method: 'DELETE', path: `${API_PREFIX}/pgoroles/{name}`, permission: 'DeletePgorole', summary: 'delete a pgorole', response: s.messageResult },

  { id: 'status', method: 'GET', path: `${ns}/status`, permission: 'Status', summary: 'summary of the namespace (pgo status)', response: s.statusResult },
  { id: 'cluster.create', method: 'POST', path: `${ns}/clusters`, permission: 'CreateCluster', summary: 'create a cluster', body: s.clusterCreateBody, response: s.clusterInfo },
  { id: 'cluster.list', method: 'GET', path: `${ns}/clusters`, permission: 'ShowCluster', summary: 'list clusters (optionally by label selector)', query: s.listQuery, response: s.clusterList },
  { id: 'cluster.get', method: 'GET', path: cl, permission: 'ShowCluster', summary: 'show a cluster', response: s.clusterInfo },
  { id: 'cluster.update', method: 'PATCH', path: cl, permission: 'UpdateCluster', summary: 'update a cluster', body: s.clusterUpdateBody, response: s.clusterInfo },
  { id: 'cluster.delete', method: 'DELETE', path: cl, permission: 'DeleteCluster', summary: 'delete a cluster (keepData keeps its volumes, keepBackups its pgBackRest repository)', query: s.clusterDeleteQuery, response: s.messageResult },
  { id: 'cluster.scale', method: 'POST', path: `${cl}/replicas`, permission: 'ScaleCluster', summary: 'add replicas (pgreplicas)', body: s.scaleBody, response: s.scaleResult },
  { id: 'cluster.replicas', method: 'GET', path: `${cl}/replicas`, permission: 'ScaleCluster', summary: 'replicas that scaledown can remove', response: s.candidateList },
  { id: 'cluster.scaledown', method: 'DELETE', path: `${cl}/replicas/{replica}`, permission: 'ScaleCluster', summary: 'remove one replica', query: s.keepDataQuery, response: s.messageResult },
  { id: 'failover.query', method: 'GET', path: `${cl}/failover`, permission: 'CreateFailover', summary: 'failover candidates', response: s.candidateList },
  { id: 'failover.create', method: 'POST', path: `${cl}/failover`, permission: 'CreateFailover', summary: 'manual failover to target (switchover without one); returns the task', body: s.failoverBody, response: s.taskInfo },
  { id: 'task.get', method: 'GET', path: `${ns}/tasks/{task}`, permission: 'ShowWorkflow', summary: 'progress of a long operation', response: s.taskInfo },
  { id: 'cluster.label', method: 'POST', path: `${cl}/labels`, permission: 'Label', summary: 'label a cluster and its objects', body: s.labelBody, response: s.labelResult },
  { id: 'cluster.unlabel', method: 'DELETE', path: `${cl}/labels`, permission: 'Label', summary: 'remove labels (keys: comma-separated)', query: s.unlabelQuery, response: s.labelResult },
  { id: 'cluster.test', method: 'GET', path: `${cl}/test`, permission: 'TestCluster', summary: 'connect to every Service and instance', response: s.testResult },
  { id: 'cluster.df', method: 'GET', path: `${cl}/df`, permission: 'DfCluster', summary: 'database sizes and volume capacity', response: s.dfResult },
  { id: 'cluster.reload', method: 'POST', path: `${cl}/reload`, permission: 'Reload', summary: 'reload the configuration of every instance', response: s.reloadResult },
  { id: 'user.show', method: 'GET', path: `${cl}/users`, permission: 'ShowUser', summary: 'PostgreSQL users (passwords only with showSecrets and ShowSecrets)', query: s.userShowQuery, response: s.userList },
  { id: 'user.create', method: 'POST', path: `${cl}/users`, permission: 'CreateUser', summary: 'create a PostgreSQL user', body: s.userCreateBody, response: s.userResult },
  { id: 'user.update', method: 'PATCH', path: `${cl}/users`, permission: 'UpdateUser', summary: 'update a PostgreSQL user', body: s.userUpdateBody, response: s.userResult },
  { id: 'user.delete', method: 'DELETE', path: `${cl}/users`, permission: 'DeleteUser', summary: 'delete a PostgreSQL user', query: s.userDeleteQuery, response: s.userResult },
  { id: 'backup.create', method: 'POST', path: `${cl}/backups`, permission: 'CreateBackup', summary: 'take a backup (creates a pgbackup; queued behind a running one)', body: s.backupBody, response: s.backupInfo },
  { id: 'backup.show', method: 'GET', path: `${cl}/backups`, permission: 'ShowBackup', summary: "pgBackRest's info and the pgbackups", response: s.backupList },
  { id: 'backup.delete', method: 'DELETE', path: `${cl}/backups`, permission: 'DeleteBackup', summary: 'expire a backup set and the sets that depend on it', query: s.backupDeleteQuery, response: s.backupDeleteResult },
  { id: 'schedule.create', method: 'POST', path: `${cl}/schedules`, permission: 'CreateSchedule', summary: 'add a backup schedule to spec.backrest.schedules', body: s.scheduleCreateBody, response: s.scheduleInfo },
  { id: 'schedule.list', method: 'GET', path: `${ns}/schedules`, permission: 'ShowSchedule', summary: 'backup schedules with their status (cluster: one cluster)', query: s.scheduleListQuery, response: s.scheduleList },
  { id: 'schedule.delete', method: 'DELETE', path: `${cl}/schedules/{schedule}`, permission: 'DeleteSchedule', summary: 'remove a backup schedule', response: s.messageResult },
  { id: 'restore', method: 'POST', path: `${cl}/restore`, permission: 'Restore', summary: 'restore from a pgBackRest backup: checked against the repository, recorded as a restore pgtask (dryRun: the plan only)', body: s.restoreBody, response: s.restoreResult },
  { id: 'restore.list', method: 'GET', path: `${cl}/restores`, permission: 'ShowBackup', summary: "the cluster's restore pgtasks, newest first, with their progress", response: s.restoreList },
  { id: 'upgrade', method: 'POST', path: `${cl}/upgrade`, permission: 'CreateUpgrade', summary: 'start a minor upgrade (a pgupgrade) to another image or tag: replicas first, one at a time, then a switchover, then the old primary', body: s.upgradeBody, response: s.taskInfo },
  { id: 'load', method: 'POST', path: `${ns}/load`, permission: 'Load', summary: 'load a file into a table of each cluster (one load pgtask each)', body: s.loadBody, response: s.loadResult },
  { id: 'policy.create', method: 'POST', path: `${ns}/policies`, permission: 'CreatePolicy', summary: 'create a policy (SQL)', body: s.policyCreateBody, response: s.policyInfo },
  { id: 'policy.list', method: 'GET', path: `${ns}/policies`, permission: 'ShowPolicy', summary: 'list policies', response: s.policyList },
  { id: 'policy.get', method: 'GET', path: `${ns}/policies/{name}`, permission: 'ShowPolicy', summary: 'show a policy', response: s.policyInfo },
  { id: 'policy.delete', method: 'DELETE', path: `${ns}/policies/{name}`, permission: 'DeletePolicy', summary: 'delete a policy', response: s.messageResult },
  { id: 'policy.apply', method: 'POST', path: `${ns}/policies/{name}/apply`, permission: 'ApplyPolicy', summary: 'run a policy on clusters', body: s.policyApplyBody, response: s.policyApplyResult },
] as const satisfies readonly Route[];

/** Identifier of a route. */
export type RouteId = (typeof ROUTES)[number]['id'];

type ById = { [R in (typeof ROUTES)[number] as R['id']]: R };
/** Routes by id. */
export const ROUTE: ById = Object.fromEntries(ROUTES.map((r) => [r.id, r])) as ById;

/** Names of the `{param}`s of a path, in order. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

/** The URL path of `route` with its parameters filled in (each encoded). */
export function buildPath(route: Route, params: Record<string, string>): string {
  return route.path.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new Error(`route ${route.id}: missing path parameter ${key}`);
    return encodeURIComponent(value);
  });
}

const compiled = ROUTES.map((r: Route) => ({
  route: r,
  regex: new RegExp(`^${r.path.replace(/\{(\w+)\}/g, '([^/]+)')}$`),
  keys: pathParams(r.path),
}));

/** Result of matching a request line against the table. */
export type Match = { route: Route; params: Record<string, string> } | { route: undefined; allowed: Method[] };

/**
 * Finds the route for `method` and `pathname`. Parameters are percent-decoded here, so an encoded `/`
 * (`%2F`) reaches validation as a `/` and is refused there, never treated as a path separator.
 */
export function matchRoute(method: string, pathname: string): Match {
  const allowed: Method[] = [];
  for (const { route, regex, keys } of compiled) {
    const m = regex.exec(pathname);
    if (!m) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    keys.forEach((k, i) => {
      let v = m[i + 1]!;
      try {
        v = decodeURIComponent(v);
      } catch {
        // left encoded: validation rejects the '%'
      }
      params[k] = v;
    });
    return { route, params };
  }
  return { route: undefined, allowed };
}
