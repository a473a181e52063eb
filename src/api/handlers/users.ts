/**
 * `pgo create|update|delete|show user`. A change is a pgtask of type user-update, carried out by the operator
 * (src/actors/user.ts); the API writes the new password into a Secret the task names (never into the task),
 * waits for the task and answers with its result. `show` reads the roles from the primary.
 */
import type { z } from 'zod';
import { LABEL, clusterNames, randomReplicaName } from '../../cluster/names.ts';
import { API_VERSION } from '../../crd/resources.ts';
import type { PgClusterResource, PgTaskResource } from '../../crd/types.ts';
import { SYSTEM_ACCOUNTS, type UserChange } from '../../crd/user.ts';
import { secretValue } from '../../actors/user.ts';
import { withInstance } from '../../pg/instance.ts';
import { generatePassword } from '../../pg/password.ts';
import { listRoles, type RoleRow } from '../../pg/users.ts';
import { PASSWORD_LENGTH } from '../../crd/user.ts';
import { ApiError } from '../errors.ts';
import { hasPermission } from '../permissions.ts';
import type * as s from '../schemas.ts';
import { awaitTasks, type Deps, type HandlerTable } from './deps.ts';

type UserResult = z.infer<typeof s.userResult>;
type ResultUser = UserResult['users'][number];

/** How long the API waits for a user change before answering that it still runs. */
const WAIT_MS = 30_000;
const DAY_MS = 86_400_000;
const isSystem = (u: string) => (SYSTEM_ACCOUNTS as readonly string[]).includes(u);

/** The roles of a cluster, read on its primary. */
async function roles(deps: Deps, c: PgClusterResource): Promise<RoleRow[]> {
  const primary = c.status?.instances?.find((i) => i.role === 'primary' && i.podIP);
  if (!primary) throw new ApiError(409, `cluster ${c.metadata.name} has no primary running; see pgo show cluster ${c.metadata.name}`);
  const password = await secretValue(deps.core, c.metadata.namespace, clusterNames(c.metadata.name).superuserSecret, 'password');
  if (password === undefined) throw new ApiError(409, `cluster ${c.metadata.name} has no superuser Secret yet; is it still being created?`);
  return withInstance({ host: primary.podIP!, port: c.spec.port ?? 5432, password }, listRoles);
}

/** `validUntil` of a request: --valid-days, --valid-always, --expire-user, or unchanged. */
function validUntil(b: { validDays?: number; validAlways?: boolean; expireUser?: boolean }, now = Date.now()): string | undefined {
  if (b.validDays !== undefined) return new Date(now + b.validDays * DAY_MS).toISOString();
  if (b.validAlways) return 'infinity';
  if (b.expireUser) return new Date(now).toISOString();
  return undefined;
}

/**
 * Writes the password Secret, creates the task, waits for it (up to WAIT_MS) and says how it went. The
 * Secret is written first (owned by the cluster until the task deletes it), so the operator always finds it.
 */
async function runChange(deps: Deps, c: PgClusterResource, change: UserChange, password: string | undefined, showPassword: boolean): Promise<ResultUser> {
  const { namespace } = c.metadata;
  const cluster = c.metadata.name;
  const name = `${cluster}-user-${randomReplicaName('x').slice(2)}`;
  const passwordSecret = password === undefined ? undefined : `${name}-password`;
  if (passwordSecret) {
    await deps.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: passwordSecret, namespace, labels: { [LABEL.cluster]: cluster }, ownerReferences: [{ apiVersion: API_VERSION, kind: 'PGCluster', name: cluster, uid: c.metadata.uid!, controller: false }] },
        stringData: { password: password! },
      },
    });
  }
  const task = {
    apiVersion: API_VERSION,
    kind: 'PGTask',
    metadata: { name, namespace, labels: { [LABEL.cluster]: cluster } },
    spec: { type: 'user-update', clusterName: cluster, user: { ...change, ...(passwordSecret ? { passwordSecret } : {}) } },
  } as PgTaskResource;
  await deps.tasks.createIfAbsent(task);
  const t = (await awaitTasks(deps, namespace, [name], Date.now() + WAIT_MS)).get(name)!;
  const phase = t.status?.phase;
  const base = { username: change.username, task: name, ...(change.validUntil ? { expires: change.validUntil === 'infinity' ? 'never' : change.validUntil } : {}) };
  if (phase === 'Failed') return { ...base, status: 'error', error: t.status?.message ?? 'failed' };
  if (phase !== 'Succeeded') return { ...base, status: 'error', error: `still running after ${WAIT_MS / 1000} s: see kubectl get pgtask ${name} -n ${namespace}` };
  const secret = t.status?.user?.secret;
  return { ...base, status: 'ok', ...(secret ? { secret } : {}), ...(showPassword && password !== undefined ? { password } : {}) };
}

/** User handlers. */
export const userHandlers: HandlerTable = {
  'user.show': async (deps, { params, query, user }) => {
    // Passwords are shown only when asked for explicitly AND the pgouser holds ShowSecrets; system
    // accounts only with ShowSystemAccounts. Asking without the permission is a 403 rather than a silent
    // omission, so nobody mistakes a redacted answer for the full one.
    if (query.showSecrets && !hasPermission(user, 'ShowSecrets')) throw new ApiError(403, `not authorized: pgouser ${user.name} lacks the permission ShowSecrets`);
    if (query.showSystemAccounts && !hasPermission(user, 'ShowSystemAccounts')) throw new ApiError(403, `not authorized: pgouser ${user.name} lacks the permission ShowSystemAccounts`);
    const c = await deps.cluster(params.namespace!, params.name!);
    const names = clusterNames(c.metadata.name);
    const within = typeof query.expired === 'number' ? Date.now() + query.expired * DAY_MS : undefined;
    const users = [];
    for (const r of await roles(deps, c)) {
      const system = isSystem(r.username);
      if (system && !query.showSystemAccounts) continue;
      if (within !== undefined && !(r.validUntil && Date.parse(r.validUntil) <= within)) continue;
      const secretName = r.username === 'postgres' ? names.superuserSecret : r.username === 'replicator' ? names.replicationSecret : names.userSecret(r.username);
      const kept = await secretValue(deps.core, c.metadata.namespace, secretName, 'username');
      const secret = kept === r.username ? secretName : undefined;
      const password = secret && query.showSecrets ? await secretValue(deps.core, c.metadata.namespace, secret, 'password') : undefined;
      users.push({ username: r.username, system, canLogin: r.canLogin, expires: r.validUntil ?? 'never', ...(secret ? { secret } : {}), ...(password !== undefined ? { password } : {}) });
    }
    return { body: { cluster: c.metadata.name, users } };
  },

  'user.create': async (deps, { params, body, user }) => {
    const b = body as z.output<typeof s.userCreateBody>;
    const c = await deps.cluster(params.namespace!, params.name!);
    const showPassword = hasPermission(user, 'ShowSecrets');
    if (b.password === undefined && !b.managed && !showPassword) {
      throw new ApiError(400, `a generated password of an unmanaged user would be seen by nobody: give --password, or --managed (kept in Secret ${clusterNames(c.metadata.name).userSecret(b.username)}), or ask a pgouser with ShowSecrets`, ['body.password']);
    }
    const password = b.password ?? generatePassword(b.passwordLength ?? PASSWORD_LENGTH.default);
    const change: UserChange = { action: 'create', username: b.username, ...(b.managed ? { managed: true } : {}), ...(b.passwordType ? { passwordType: b.passwordType } : {}), validUntil: validUntil(b) ?? 'infinity' };
    const result = await runChange(deps, c, change, password, showPassword && b.password === undefined);
    return { body: { cluster: c.metadata.name, users: [result] } satisfies UserResult };
  },

  'user.update': async (deps, { params, body, user }) => {
    const b = body as z.output<typeof s.userUpdateBody>;
    const c = await deps.cluster(params.namespace!, params.name!);
    const usernames = b.username !== undefined ? [b.username] : (await roles(deps, c))
      .filter((r) => !isSystem(r.username) && r.validUntil !== undefined && Date.parse(r.validUntil) <= Date.now() + b.expired! * DAY_MS)
      .map((r) => r.username);
    const showPassword = hasPermission(user, 'ShowSecrets');
    const results: ResultUser[] = [];
    for (const username of usernames) {
      const password = b.password ?? (b.rotatePassword || b.passwordLength !== undefined ? generatePassword(b.passwordLength ?? PASSWORD_LENGTH.default) : undefined);
      const kept = (await secretValue(deps.core, c.metadata.namespace, clusterNames(c.metadata.name).userSecret(username), 'username')) === username;
      if (b.password === undefined && password !== undefined && !kept && !showPassword) {
        results.push({ username, status: 'error', error: `${username} has no Secret and you lack ShowSecrets: a generated password would be seen by nobody; give --password` });
        continue;
      }
      const until = validUntil(b);
      const change: UserChange = {
        action: 'update',
        username,
        ...(b.passwordType ? { passwordType: b.passwordType } : {}),
        ...(until ? { validUntil: until } : {}),
        ...(b.disableLogin ? { login: false } : b.enableLogin ? { login: true } : {}),
      };
      results.push(await runChange(deps, c, change, password, showPassword && b.password === undefined));
    }
    return { body: { cluster: c.metadata.name, users: results } satisfies UserResult };
  },

  'user.delete': async (deps, { params, query }) => {
    const c = await deps.cluster(params.namespace!, params.name!);
    const username = query.username as string;
    const result = await runChange(deps, c, { action: 'delete', username }, undefined, false);
    return { body: { cluster: c.metadata.name, users: [result] } satisfies UserResult };
  },
};
