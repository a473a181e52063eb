/**
 * Strict JSON for request bodies: JSON.parse takes the last of duplicated keys and rounds big integers
 * silently, so a body could mean something other than what its sender read. These are refused, naming
 * the key. Pure; shared by the server and its tests.
 */

/** Why a syntactically valid JSON text is ambiguous, or undefined when it is not. */
export function ambiguity(text: string): string | undefined {
  // Each open object keeps its keys and its path; arrays keep only their path.
  const stack: { keys?: Set<string>; expectKey: boolean; path: string; lastKey?: string }[] = [];
  const pathOf = (key: string, parent = stack.at(-1)) => (parent?.path ? `${parent.path}.${key}` : key);
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const top = stack.at(-1);
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return `duplicate key ${JSON.stringify(key)} at ${pathOf(key)}: send each key once`;
        if (key === '__proto__') return `key "__proto__" at ${pathOf(key)} is not allowed`;
        top.keys.add(key);
        top.expectKey = false;
        top.lastKey = key;
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      const path = top ? pathOf(top.keys ? (top.lastKey ?? '') : '[]') : '';
      stack.push(c === '{' ? { keys: new Set(), expectKey: true, path } : { expectKey: false, path });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.keys) {
      top.expectKey = true;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const number = /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(i))![0];
      const value = Number(number);
      // An integer literal that reads back as another number (9007199254740993 reads as ...992), or infinity.
      const inexact = /^-?[0-9]+$/.test(number) ? !Number.isSafeInteger(value) && String(value) !== number : !Number.isFinite(value);
      if (inexact) {
        const where = top?.keys ? pathOf(top.lastKey ?? '') : (top?.path ?? 'the body');
        return `number ${number.slice(0, 30)} at ${where} cannot be represented exactly`;
      }
      i += number.length;
      continue;
    }
    i++;
  }
  return undefined;
}
