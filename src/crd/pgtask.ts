/** The pgtasks resource: asynchronous work on a cluster, recorded as intent by the API and carried out by the operator. */
import { z } from 'zod';
import { clusterName } from './limits.ts';
import { workStatus } from './common.ts';
import { restoreSpec, restoreStatus } from './restore.ts';
import { loadSpec, loadStatus } from './load.ts';
import { policyApply, policyApplyStatus } from './policy.ts';
import { userChange, userChangeStatus } from './user.ts';

/** Kinds of task (v4 task types, typed). */
export const taskType = z.enum([
  'failover',
  'switchover',
  'scaledown',
  'reload',
  'restart',
  'apply-policy',
  'load',
  'user-update',
  'minor-upgrade',
  'delete-data',
  'restore',
  'benchmark',
]);

/** Desired state of a pgtask. */
export const pgTaskSpec = z.strictObject({
  type: taskType,
  clusterName: clusterName.describe('the pgcluster the task works on'),
  target: z.string().min(1).optional().describe('instance the task is aimed at (failover target, replica to remove)'),
  autofailReplaceReplica: z.boolean().optional().describe('failover: create a replacement replica'),
  parameters: z.record(z.string(), z.string()).optional().describe('task-specific settings'),
  restore: restoreSpec.optional().describe('restore: what to restore to (type restore)'),
  user: userChange.optional().describe('user-update: the change to a PostgreSQL user'),
  policy: policyApply.optional().describe('apply-policy: the pgpolicy to run on the cluster'),
  load: loadSpec.optional().describe('load: the file to load and where'),
});

/** Observed state of a pgtask. */
export const pgTaskStatus = workStatus.extend({
  restore: restoreStatus.optional().describe('restore: its steps and progress'),
  user: userChangeStatus.optional().describe('user-update: how far the change got'),
  policy: policyApplyStatus.optional().describe('apply-policy: how far it got'),
  load: loadStatus.optional().describe('load: rows loaded, or the line refused'),
});

export type PgTaskSpec = z.output<typeof pgTaskSpec>;
export type PgTaskStatus = z.output<typeof pgTaskStatus>;
