/**
 * pgousers and pgoroles, kept as Secrets in the operator's namespace (as v4 4.1+ did):
 * `pgouser-<name>` holds the scrypt hash of the password (never the password), the roles and namespaces;
 * `pgorole-<name>` holds the permission list.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { LABEL, MANAGED_BY } from '../../cluster/names.ts';
import { describeError, httpStatus } from '../../k8s/custom.ts';
import { ApiError } from '../errors.ts';

/** Label on pgouser Secrets. */
export const PGOUSER_LABEL = 'pg-operator.dev/pgouser';
/** Label on pgorole Secrets. */
export const PGOROLE_LABEL = 'pg-operator.dev/pgorole';

/** A pgouser as stored. */
export interface StoredUser {
  name: string;
  passwordHash: string;
  roles: string[];
  namespaces: string[];
  allNamespaces: boolean;
  resourceVersion: string;
}

/** A pgorole as stored. */
export interface StoredRole {
  name: string;
  permissions: string[];
}

const csv = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const dec = (s: V1Secret, key: string) => (s.data?.[key] !== undefined ? Buffer.from(s.data[key], 'base64').toString() : undefined);
const enc = (v: string) => Buffer.from(v).toString('base64');

/** Secret name of a pgouser. */
export const userSecretName = (name: string) => `pgouser-${name}`;
/** Secret name of a pgorole. */
export const roleSecretName = (name: string) => `pgorole-${name}`;

function toUser(s: V1Secret): StoredUser {
  return {
    name: dec(s, 'username') ?? '',
    passwordHash: dec(s, 'passwordHash') ?? '',
    roles: csv(dec(s, 'roles')),
    namespaces: csv(dec(s, 'namespaces')),
    allNamespaces: dec(s, 'allNamespaces') === 'true',
    resourceVersion: s.metadata?.resourceVersion ?? '',
  };
}

const toRole = (s: V1Secret): StoredRole => ({ name: dec(s, 'rolename') ?? '', permissions: csv(dec(s, 'permissions')) });

/** Reads and writes pgouser and pgorole Secrets in `namespace`. */
export class AccessStore {
  private readonly core: CoreV1Api;
  constructor(
    kc: KubeConfig,
    readonly namespace: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  private async read(name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace: this.namespace, name });
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw new Error(`reading Secret ${this.namespace}/${name}: ${describeError(err)}`, { cause: err });
    }
  }

  /** The pgouser, or undefined. */
  async getUser(name: string): Promise<StoredUser | undefined> {
    const s = await this.read(userSecretName(name));
    return s?.metadata?.labels?.[PGOUSER_LABEL] === 'true' ? toUser(s) : undefined;
  }

  /** The pgorole, or undefined. */
  async getRole(name: string): Promise<StoredRole | undefined> {
    const s = await this.read(roleSecretName(name));
    return s?.metadata?.labels?.[PGOROLE_LABEL] === 'true' ? toRole(s) : undefined;
  }

  /** Every pgouser. */
  async listUsers(): Promise<StoredUser[]> {
    const list = await this.core.listNamespacedSecret({ namespace: this.namespace, labelSelector: `${PGOUSER_LABEL}=true` });
    return list.items.map(toUser).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every pgorole. */
  async listRoles(): Promise<StoredRole[]> {
    const list = await this.core.listNamespacedSecret({ namespace: this.namespace, labelSelector: `${PGOROLE_LABEL}=true` });
    return list.items.map(toRole).sort((a, b) => a.name.localeCompare(b.name));
  }

  private userSecret(u: Omit<StoredUser, 'resourceVersion'>): V1Secret {
    return {
      metadata: { name: userSecretName(u.name), namespace: this.namespace, labels: { [PGOUSER_LABEL]: 'true', [LABEL.managedBy]: MANAGED_BY } },
      type: 'Opaque',
      data: { username: enc(u.name), passwordHash: enc(u.passwordHash), roles: enc(u.roles.join(',')), namespaces: enc(u.namespaces.join(',')), allNamespaces: enc(String(u.allNamespaces)) },
    };
  }

  private roleSecret(r: StoredRole): V1Secret {
    return {
      metadata: { name: roleSecretName(r.name), namespace: this.namespace, labels: { [PGOROLE_LABEL]: 'true', [LABEL.managedBy]: MANAGED_BY } },
      type: 'Opaque',
      data: { rolename: enc(r.name), permissions: enc(r.permissions.join(',')) },
    };
  }

  private async create(body: V1Secret, what: string): Promise<void> {
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (httpStatus(err) === 409) throw new ApiError(409, `${what} already exists`, undefined, { cause: err });
      throw new Error(`creating ${what}: ${describeError(err)}`, { cause: err });
    }
  }

  private async replace(body: V1Secret, what: string): Promise<void> {
    try {
      await this.core.replaceNamespacedSecret({ namespace: this.namespace, name: body.metadata!.name!, body });
    } catch (err) {
      if (httpStatus(err) === 409) throw new ApiError(409, `${what} was changed concurrently; try again`, undefined, { cause: err });
      throw new Error(`updating ${what}: ${describeError(err)}`, { cause: err });
    }
  }

  /** Creates a pgouser (409 when it exists). */
  createUser(u: Omit<StoredUser, 'resourceVersion'>): Promise<void> {
    return this.create(this.userSecret(u), `pgouser ${u.name}`);
  }

  /** Replaces a pgouser, guarded by the resourceVersion it was read at. */
  updateUser(u: StoredUser): Promise<void> {
    const body = this.userSecret(u);
    body.metadata!.resourceVersion = u.resourceVersion;
    return this.replace(body, `pgouser ${u.name}`);
  }

  /** Creates a pgorole (409 when it exists). */
  createRole(r: StoredRole): Promise<void> {
    return this.create(this.roleSecret(r), `pgorole ${r.name}`);
  }

  /** Replaces a pgorole's permissions. */
  updateRole(r: StoredRole): Promise<void> {
    return this.replace(this.roleSecret(r), `pgorole ${r.name}`);
  }

  /** Deletes a Secret; false when it was not there. */
  async remove(kind: 'pgouser' | 'pgorole', name: string): Promise<boolean> {
    try {
      await this.core.deleteNamespacedSecret({ namespace: this.namespace, name: kind === 'pgouser' ? userSecretName(name) : roleSecretName(name) });
      return true;
    } catch (err) {
      if (httpStatus(err) === 404) return false;
      throw new Error(`deleting ${kind} ${name}: ${describeError(err)}`, { cause: err });
    }
  }
}
