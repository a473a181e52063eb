/** The pgreplicas resource: one streaming replica of a pgcluster (v4: one replica Deployment each). */
import { z } from 'zod';
import { conditions, nodeAffinity, resources, serviceType, storageSpec, toleration } from './common.ts';
import { clusterName, userLabels } from './limits.ts';
import { instanceRole } from './pgcluster.ts';
import { imageRef } from './pgupgrade.ts';

/** Desired state of a pgreplica. */
export const pgReplicaSpec = z.strictObject({
  clusterName: clusterName.describe('the pgcluster this replica belongs to'),
  storage: storageSpec.optional().describe("data volume; the cluster's replica storage when unset"),
  resources: resources.optional(),
  image: imageRef.optional().describe("the PostgreSQL image of this instance; the cluster's when unset (a minor upgrade sets it while it moves instances one at a time)"),
  nodeAffinity: nodeAffinity.optional().describe('placement; a node other than the primary is preferred when unset'),
  tolerations: z.array(toleration).optional(),
  serviceType: serviceType.optional(),
  userLabels: userLabels.optional(),
  restore: z
    .strictObject({
      task: z.string().min(1).describe('the restore pgtask this instance was made for'),
      args: z.array(z.string().min(1).max(200)).max(12).describe('pgbackrest restore options chosen by the operator'),
    })
    .optional()
    .describe('set by the operator: this instance starts from a pgBackRest restore instead of a copy of the primary'),
});

/** Observed state of a pgreplica. */
export const pgReplicaStatus = z.strictObject({
  phase: z.enum(['Pending', 'Creating', 'Ready', 'NotReady', 'Failed']).optional(),
  role: instanceRole.optional().describe('primary once this replica was promoted'),
  ready: z.boolean().optional(),
  node: z.string().optional(),
  lagBytes: z.int().min(0).optional(),
  message: z.string().optional(),
  observedGeneration: z.int().min(0).optional(),
  conditions: conditions.optional(),
});

export type PgReplicaSpec = z.output<typeof pgReplicaSpec>;
export type PgReplicaStatus = z.output<typeof pgReplicaStatus>;
