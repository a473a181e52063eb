/**
 * The six custom resources of group pg-operator.dev/v1: names, schemas and kubectl columns.
 * One table drives the CRD generator, the API's validation and the CLI.
 */
import type { z } from 'zod';
import { nameRules, type CelRule } from './limits.ts';
import { pgBackupSpec, pgBackupStatus } from './pgbackup.ts';
import { pgClusterSpec, pgClusterStatus } from './pgcluster.ts';
import { pgPolicySpec, pgPolicyStatus } from './pgpolicy.ts';
import { pgReplicaSpec, pgReplicaStatus } from './pgreplica.ts';
import { pgTaskSpec, pgTaskStatus } from './pgtask.ts';
import { pgUpgradeSpec, pgUpgradeStatus } from './pgupgrade.ts';

/** API group of every custom resource. */
export const GROUP = 'pg-operator.dev';
/** Served and stored version. */
export const VERSION = 'v1';
/** `apiVersion` of every custom resource. */
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A kubectl printer column. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** Everything needed to define and use one custom resource. */
export interface ResourceDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: z.ZodType;
  status: z.ZodType;
  columns: PrinterColumn[];
  /** CEL rules on the whole object (its name), from src/crd/limits.ts. */
  rules?: CelRule[];
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const cluster: PrinterColumn = { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterName' };
const phase: PrinterColumn = { name: 'Phase', type: 'string', jsonPath: '.status.phase' };

/** The resource table, keyed by plural. */
export const resources = {
  pgclusters: {
    kind: 'PGCluster',
    plural: 'pgclusters',
    singular: 'pgcluster',
    shortNames: ['pgc'],
    spec: pgClusterSpec,
    status: pgClusterStatus,
    rules: nameRules.cluster,
    columns: [
      { name: 'Primary', type: 'string', jsonPath: '.status.currentPrimary' },
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'replicas requested at creation' },
      { name: 'Ready', type: 'integer', jsonPath: '.status.readyInstances' },
      phase,
      { name: 'DisableAutofail', type: 'boolean', jsonPath: '.spec.disableAutofail', priority: 1 },
      { name: 'Image', type: 'string', jsonPath: '.spec.image', priority: 1 },
      age,
    ],
  },
  pgreplicas: {
    kind: 'PGReplica',
    plural: 'pgreplicas',
    singular: 'pgreplica',
    shortNames: ['pgr'],
    spec: pgReplicaSpec,
    status: pgReplicaStatus,
    rules: nameRules.instance,
    columns: [
      cluster,
      { name: 'Role', type: 'string', jsonPath: '.status.role' },
      { name: 'Node', type: 'string', jsonPath: '.status.node' },
      { name: 'Ready', type: 'boolean', jsonPath: '.status.ready' },
      { name: 'Lag', type: 'integer', jsonPath: '.status.lagBytes', priority: 1 },
      phase,
      age,
    ],
  },
  pgtasks: {
    kind: 'PGTask',
    plural: 'pgtasks',
    singular: 'pgtask',
    shortNames: ['pgt'],
    spec: pgTaskSpec,
    status: pgTaskStatus,
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      cluster,
      { name: 'Target', type: 'string', jsonPath: '.spec.target' },
      phase,
      { name: 'Progress', type: 'integer', jsonPath: '.status.progress', priority: 1 },
      age,
    ],
  },
  pgpolicies: {
    kind: 'PGPolicy',
    plural: 'pgpolicies',
    singular: 'pgpolicy',
    shortNames: ['pgpol'],
    spec: pgPolicySpec,
    status: pgPolicyStatus,
    columns: [
      { name: 'Database', type: 'string', jsonPath: '.spec.database' },
      { name: 'Applied', type: 'string', jsonPath: '.status.appliedTo' },
      age,
    ],
  },
  pgbackups: {
    kind: 'PGBackup',
    plural: 'pgbackups',
    singular: 'pgbackup',
    shortNames: ['pgb'],
    spec: pgBackupSpec,
    status: pgBackupStatus,
    columns: [
      cluster,
      { name: 'Type', type: 'string', jsonPath: '.status.type' },
      phase,
      { name: 'Label', type: 'string', jsonPath: '.status.backupLabel' },
      { name: 'Progress', type: 'integer', jsonPath: '.status.progress', priority: 1 },
      { name: 'Repo', type: 'string', jsonPath: '.status.repo', priority: 1 },
      { name: 'Instance', type: 'string', jsonPath: '.status.instance', priority: 1 },
      age,
    ],
  },
  pgupgrades: {
    kind: 'PGUpgrade',
    plural: 'pgupgrades',
    singular: 'pgupgrade',
    shortNames: ['pgu'],
    spec: pgUpgradeSpec,
    status: pgUpgradeStatus,
    columns: [
      cluster,
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Image', type: 'string', jsonPath: '.spec.image' },
      phase,
      age,
    ],
  },
} satisfies Record<string, ResourceDef>;

/** Plural name of a custom resource. */
export type ResourcePlural = keyof typeof resources;

/** All resource definitions, in a stable order. */
export const resourceList: ResourceDef[] = Object.values(resources);
