/**
 * The bootstrap administrator: a pgorole `pgoadmin` with `*` and a pgouser `admin` with a generated
 * password. The pgouser Secret holds only the hash; the password itself is put in the Secret
 * `pgo-admin-credentials` (same namespace), readable by whoever may read Secrets there, i.e. the
 * cluster administrator who installed the operator. Idempotent: existing ones are kept.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LABEL, MANAGED_BY } from '../cluster/names.ts';
import { httpStatus } from '../k8s/custom.ts';
import { hashPassword, generatePassword } from './auth/password.ts';
import { AccessStore } from './auth/store.ts';
import { ALL_PERMISSIONS, READER_PERMISSIONS } from './permissions.ts';

/** Secret with the bootstrap admin's user name and password. */
export const ADMIN_CREDENTIALS_SECRET = 'pgo-admin-credentials';
/** Name of the bootstrap pgouser. */
export const ADMIN_USER = 'admin';

/** The command that prints the admin password. */
export function adminPasswordCommand(namespace: string): string {
  return `kubectl -n ${namespace} get secret ${ADMIN_CREDENTIALS_SECRET} -o jsonpath='{.data.password}' | base64 -d`;
}

/** Creates the roles and admin user when missing; returns whether the admin user was created now. */
export async function ensureBootstrapAdmin(kc: KubeConfig, namespace: string): Promise<{ created: boolean; howToRead: string }> {
  const store = new AccessStore(kc, namespace);
  const ignoreExists = (err: unknown) => {
    if (httpStatus(err) !== 409 && (err as { status?: number }).status !== 409) throw err;
  };
  if (!(await store.getRole('pgoadmin'))) await store.createRole({ name: 'pgoadmin', permissions: [ALL_PERMISSIONS] }).catch(ignoreExists);
  if (!(await store.getRole('pgoreader'))) await store.createRole({ name: 'pgoreader', permissions: READER_PERMISSIONS }).catch(ignoreExists);
  const howToRead = adminPasswordCommand(namespace);
  if (await store.getUser(ADMIN_USER)) return { created: false, howToRead };
  const password = generatePassword(24);
  const core = kc.makeApiClient(CoreV1Api);
  // The plaintext Secret is written first: if the process dies in between, a rerun finds no pgouser and
  // replaces both, so there is never an admin whose password nobody can read.
  const body = {
    metadata: { name: ADMIN_CREDENTIALS_SECRET, namespace, labels: { [LABEL.managedBy]: MANAGED_BY } },
    type: 'Opaque',
    stringData: { username: ADMIN_USER, password },
  };
  try {
    await core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if (httpStatus(err) !== 409) throw new Error(`creating Secret ${namespace}/${ADMIN_CREDENTIALS_SECRET}`, { cause: err });
    await core.replaceNamespacedSecret({ namespace, name: ADMIN_CREDENTIALS_SECRET, body });
  }
  await store.createUser({ name: ADMIN_USER, passwordHash: await hashPassword(password), roles: ['pgoadmin'], namespaces: [], allNamespaces: true });
  return { created: true, howToRead };
}
