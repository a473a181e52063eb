/** The committed CRD YAML files and their expected text. */
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildCrd } from './crd.ts';
import { resourceList } from './resources.ts';

/** Directory of the generated CRD YAML. */
export const crdDir = fileURLToPath(new URL('../../crds/', import.meta.url));

/** Path and generated text of every CRD file. */
export function crdFiles(): { path: string; text: string }[] {
  return resourceList.map((def) => ({
    path: `${crdDir}${def.plural}.yaml`,
    text: `# Generated from src/crd by \`npm run gen:crds\`; do not edit.\n${stringify(buildCrd(def), { lineWidth: 0 })}`,
  }));
}
