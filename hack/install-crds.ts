/**
 * Installs the CRDs into the cluster of the current kubeconfig, waits until they are Established, and
 * creates the operator's namespace (PGO_OPERATOR_NAMESPACE, default pgo) when missing, and the bootstrap
 * pgouser `admin` (password in the Secret pgo-admin-credentials) and the API certificate (Secret pgo.tls).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ensureBootstrapAdmin } from '../src/api/bootstrap.ts';
import { loadOrCreateTls } from '../src/api/tls.ts';
import { applyObject } from '../src/k8s/apply.ts';
import { installCrds } from '../src/k8s/crds.ts';

const kc = new KubeConfig();
kc.loadFromDefault();
await installCrds(kc);
const namespace = process.env.PGO_OPERATOR_NAMESPACE ?? 'pgo';
await applyObject(kc, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
console.log(`CRDs installed in ${kc.getCurrentCluster()?.server ?? 'the current cluster'}`);
// The certificate is made here (openssl on the installing machine), so the operator image needs no openssl.
await loadOrCreateTls(kc, namespace);
const admin = await ensureBootstrapAdmin(kc, namespace);
console.log(`${admin.created ? 'created' : 'kept'} the pgouser admin; its password: ${admin.howToRead}`);
