/**
 * Installs the CRDs into the cluster of the current kubeconfig, waits until they are Established, and
 * creates the operator's namespace (PGO_OPERATOR_NAMESPACE, default pgo) when missing.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { applyObject } from '../src/k8s/apply.ts';
import { installCrds } from '../src/k8s/crds.ts';

const kc = new KubeConfig();
kc.loadFromDefault();
await installCrds(kc);
await applyObject(kc, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: process.env.PGO_OPERATOR_NAMESPACE ?? 'pgo' } });
console.log(`CRDs installed in ${kc.getCurrentCluster()?.server ?? 'the current cluster'}`);
