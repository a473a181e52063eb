/** Pod placement of an instance: node affinity from the spec and spreading from the other instances. */
import type { V1Affinity, V1NodeSelectorTerm } from '@kubernetes/client-node';
import type { PgClusterSpec } from '../crd/pgcluster.ts';
import { LABEL } from './names.ts';

type NodeAffinitySpec = NonNullable<PgClusterSpec['nodeAffinity']>;

const HOSTNAME = 'kubernetes.io/hostname';

function term(spec: NodeAffinitySpec): V1NodeSelectorTerm | undefined {
  const expressions = [];
  if (spec.nodeName) expressions.push({ key: HOSTNAME, operator: 'In', values: [spec.nodeName] });
  if (spec.nodeLabel) expressions.push({ key: spec.nodeLabel.key, operator: 'In', values: [spec.nodeLabel.value] });
  return expressions.length ? { matchExpressions: expressions } : undefined;
}

/**
 * The affinity of one instance. `nodeAffinity` pins it (preferred or required, like v4's
 * --node-affinity-type); `antiAffinity` spreads the cluster's instances over nodes, so a replica without a
 * node of its own prefers a node other than the primary's.
 */
export function instanceAffinity(
  cluster: string,
  nodeAffinity: NodeAffinitySpec | undefined,
  antiAffinity: PgClusterSpec['podAntiAffinity'],
): V1Affinity | undefined {
  const affinity: V1Affinity = {};
  const selector = nodeAffinity && term(nodeAffinity);
  if (selector) {
    affinity.nodeAffinity =
      nodeAffinity.type === 'required'
        ? { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [selector] } }
        : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: selector }] };
  }
  // Instances only: the repository host's pod does not count against a node (required anti-affinity would
  // otherwise leave one node fewer for the instances).
  const spread = { labelSelector: { matchLabels: { [LABEL.cluster]: cluster, [LABEL.component]: 'database' } }, topologyKey: HOSTNAME };
  if (antiAffinity === 'required') {
    affinity.podAntiAffinity = { requiredDuringSchedulingIgnoredDuringExecution: [spread] };
  } else if (antiAffinity === 'preferred') {
    affinity.podAntiAffinity = { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: spread }] };
  }
  return affinity.nodeAffinity || affinity.podAntiAffinity ? affinity : undefined;
}
