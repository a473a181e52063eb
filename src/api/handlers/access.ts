/** pgouser and pgorole management (`pgo create|show|update|delete pgouser|pgorole`). */
import type { z } from 'zod';
import { hashPassword } from '../auth/password.ts';
import type { StoredUser } from '../auth/store.ts';
import { ApiError } from '../errors.ts';
import { ALL_PERMISSIONS, canUseNamespace, hasPermission, type Permission, type Principal } from '../permissions.ts';
import type * as s from '../schemas.ts';
import type { Deps, HandlerTable } from './deps.ts';

const userInfo = (u: StoredUser) => ({ name: u.name, roles: u.roles, namespaces: u.namespaces, allNamespaces: u.allNamespaces });

// No escalation: a pgouser can only hand out permissions and namespaces it holds itself, so a user
// allowed to manage pgousers cannot mint an account more powerful than its own.
function assertCanGrant(caller: Principal, permissions: string[], what: string): void {
  if (caller.permissions.has(ALL_PERMISSIONS)) return;
  const missing = permissions.filter((p) => p === ALL_PERMISSIONS || !hasPermission(caller, p as Permission));
  if (missing.length) throw new ApiError(403, `not authorized: pgouser ${caller.name} cannot grant ${missing.join(', ')} (${what}) without holding it`);
}

async function assertCanGrantRoles(deps: Deps, caller: Principal, roles: string[]): Promise<void> {
  for (const name of roles) {
    const role = await deps.access.getRole(name);
    if (!role) throw new ApiError(400, `pgorole ${name} does not exist`, ['body.roles']);
    assertCanGrant(caller, role.permissions, `pgorole ${name}`);
  }
}

function assertCanGrantNamespaces(caller: Principal, namespaces: string[], all: boolean): void {
  if (caller.namespaces === '*') return;
  if (all) throw new ApiError(403, `not authorized: pgouser ${caller.name} cannot grant access to all namespaces without having it`);
  const missing = namespaces.filter((n) => !canUseNamespace(caller, n));
  if (missing.length) throw new ApiError(403, `not authorized: pgouser ${caller.name} cannot grant namespaces it cannot use: ${missing.join(', ')}`);
}

async function mustGetUser(deps: Deps, name: string): Promise<StoredUser> {
  const u = await deps.access.getUser(name);
  if (!u) throw new ApiError(404, `pgouser ${name} not found`);
  return u;
}

/** pgouser and pgorole handlers. */
export const accessHandlers: HandlerTable = {
  'pgouser.create': async (deps, { body, user }) => {
    const b = body as z.output<typeof s.pgouserCreateBody>;
    await assertCanGrantRoles(deps, user, b.roles);
    assertCanGrantNamespaces(user, b.namespaces, b.allNamespaces);
    const stored = { name: b.name, passwordHash: await hashPassword(b.password), roles: b.roles, namespaces: b.namespaces, allNamespaces: b.allNamespaces };
    await deps.access.createUser(stored);
    return { status: 201, body: userInfo({ ...stored, resourceVersion: '' }) };
  },
  'pgouser.list': async (deps) => ({ body: { pgousers: (await deps.access.listUsers()).map(userInfo) } }),
  'pgouser.get': async (deps, { params }) => ({ body: userInfo(await mustGetUser(deps, params.name!)) }),
  'pgouser.update': async (deps, { params, body, user }) => {
    const b = body as z.output<typeof s.pgouserUpdateBody>;
    const current = await mustGetUser(deps, params.name!);
    if (b.roles) await assertCanGrantRoles(deps, user, b.roles);
    if (b.namespaces || b.allNamespaces) assertCanGrantNamespaces(user, b.namespaces ?? [], b.allNamespaces ?? false);
    const next: StoredUser = {
      ...current,
      roles: b.roles ?? current.roles,
      namespaces: b.namespaces ?? (b.allNamespaces ? [] : current.namespaces),
      allNamespaces: b.allNamespaces ?? (b.namespaces ? false : current.allNamespaces),
      passwordHash: b.password ? await hashPassword(b.password) : current.passwordHash,
    };
    if (!next.allNamespaces && next.namespaces.length === 0) throw new ApiError(400, 'a pgouser needs namespaces or allNamespaces', ['body.namespaces']);
    await deps.access.updateUser(next);
    return { body: userInfo(next) };
  },
  'pgouser.delete': async (deps, { params, user }) => {
    if (params.name === user.name) throw new ApiError(400, 'a pgouser cannot delete itself', ['path.name']);
    await mustGetUser(deps, params.name!);
    await deps.access.remove('pgouser', params.name!);
    return { body: { message: `deleted pgouser ${params.name}` } };
  },

  'pgorole.create': async (deps, { body, user }) => {
    const b = body as z.output<typeof s.pgoroleCreateBody>;
    assertCanGrant(user, b.permissions, `pgorole ${b.name}`);
    await deps.access.createRole({ name: b.name, permissions: b.permissions });
    return { status: 201, body: { name: b.name, permissions: b.permissions } };
  },
  'pgorole.list': async (deps) => ({ body: { pgoroles: await deps.access.listRoles() } }),
  'pgorole.get': async (deps, { params }) => {
    const role = await deps.access.getRole(params.name!);
    if (!role) throw new ApiError(404, `pgorole ${params.name} not found`);
    return { body: role };
  },
  'pgorole.update': async (deps, { params, body, user }) => {
    const b = body as z.output<typeof s.pgoroleUpdateBody>;
    if (!(await deps.access.getRole(params.name!))) throw new ApiError(404, `pgorole ${params.name} not found`);
    assertCanGrant(user, b.permissions, `pgorole ${params.name}`);
    await deps.access.updateRole({ name: params.name!, permissions: b.permissions });
    return { body: { name: params.name!, permissions: b.permissions } };
  },
  'pgorole.delete': async (deps, { params }) => {
    if (!(await deps.access.getRole(params.name!))) throw new ApiError(404, `pgorole ${params.name} not found`);
    await deps.access.remove('pgorole', params.name!);
    return { body: { message: `deleted pgorole ${params.name}` } };
  },
};
