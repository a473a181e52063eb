/** A throwaway PKI made with openssl: a CA, a serving certificate, client certificates and a service-account key. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates `ca.{crt,key}` in `dir`. */
export function makeCa(dir: string, cn = 'pg-operator-test-ca'): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-subj', `/CN=${cn}`], dir);
}

/**
 * Creates `<name>.{crt,key}` in `dir`, signed by the CA there.
 * `subject` is an openssl subject such as `/O=system:masters/CN=admin`; `san` adds subjectAltNames for servers.
 */
export function makeCert(dir: string, name: string, subject: string, usage: 'server' | 'client', san: string[] = []): void {
  const ext = [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(san.length ? [`subjectAltName=${san.join(',')}`] : []),
  ].join('\n');
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

/** Creates the service-account signing key `sa.key` and its public key `sa.pub`. */
export function makeServiceAccountKey(dir: string): void {
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}
