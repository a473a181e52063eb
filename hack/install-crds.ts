/** Installs the CRDs into the cluster of the current kubeconfig and waits until they are Established. */
import { KubeConfig } from '@kubernetes/client-node';
import { installCrds } from '../src/k8s/crds.ts';

const kc = new KubeConfig();
kc.loadFromDefault();
await installCrds(kc);
console.log(`CRDs installed in ${kc.getCurrentCluster()?.server ?? 'the current cluster'}`);
