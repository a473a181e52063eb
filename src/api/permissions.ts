/**
 * pgorole permissions: v4's permission names (4.1 list plus the 4.7 additions that apply here), and the
 * checks of a user's permissions and namespaces. Pure: shared by the API server, its tests and the CLI.
 */

/** Every permission a pgorole can grant, with v4's names. `*` in a role grants all of them. */
export const PERMISSIONS = [
  'ApplyPolicy', 'Cat', 'CreateBackup', 'CreateCluster', 'CreateDump', 'CreateFailover', 'CreatePgorole', 'CreatePgouser',
  'CreatePolicy', 'CreateSchedule', 'CreateUpgrade', 'CreateUser', 'DeleteBackup', 'DeleteCluster', 'DeletePgorole',
  'DeletePgouser', 'DeletePolicy', 'DeleteSchedule', 'DeleteUser', 'DfCluster', 'Label', 'Load', 'Reload', 'Restart',
  'Restore', 'RestoreDump', 'ScaleCluster', 'ShowBackup', 'ShowCluster', 'ShowConfig', 'ShowNamespace', 'ShowPgorole',
  'ShowPgouser', 'ShowPolicy', 'ShowPVC', 'ShowSchedule', 'ShowSecrets', 'ShowSystemAccounts', 'ShowUser', 'ShowWorkflow',
  'Status', 'TestCluster', 'UpdateCluster', 'UpdatePgorole', 'UpdatePgouser', 'UpdateUser', 'Version',
] as const;

/** One permission name. */
export type Permission = (typeof PERMISSIONS)[number];

/** The wildcard permission: every permission. */
export const ALL_PERMISSIONS = '*';

/** v4's read-only role (`pgoreader`), for bootstrap and documentation. */
export const READER_PERMISSIONS: Permission[] = [
  'Cat', 'ShowNamespace', 'Status', 'ShowConfig', 'DfCluster', 'ShowCluster', 'TestCluster', 'ShowBackup', 'ShowPolicy',
  'ShowWorkflow', 'ShowPVC', 'Version', 'ShowSchedule',
];

const known = new Set<string>(PERMISSIONS);

/** True when `name` is a permission name or `*`. */
export function isPermission(name: string): boolean {
  return name === ALL_PERMISSIONS || known.has(name);
}

/** An authenticated pgouser with what its roles grant. */
export interface Principal {
  name: string;
  /** Union of the permissions of the user's roles (may contain `*`). */
  permissions: ReadonlySet<string>;
  /** Namespaces the user may use; `'*'` for all (v4: an empty namespace list). */
  namespaces: readonly string[] | '*';
}

/** True when `user` holds `permission`, directly or through `*`. */
export function hasPermission(user: Principal, permission: Permission): boolean {
  return user.permissions.has(ALL_PERMISSIONS) || user.permissions.has(permission);
}

/** True when `user` may work in `namespace`. */
export function canUseNamespace(user: Principal, namespace: string): boolean {
  return user.namespaces === '*' || user.namespaces.includes(namespace);
}
