/** `{{name}}` placeholders: letters, digits, `_`, `-` and `.`, spaces inside the braces allowed. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

export function placeholdersOf(content: string): string[] {
  const names = new Set<string>();
  for (const m of content.matchAll(PLACEHOLDER)) names.add(m[1]);
  return [...names];
}

export type RenderResult = { ok: true; text: string } | { ok: false; missing: string[] };

/**
 * Substitutes in one pass over the template, so a value that itself contains `{{x}}`
 * is sent as written and never expanded (no injection of further placeholders).
 */
export function renderTemplate(content: string, variables: Record<string, unknown>): RenderResult {
  const missing = new Set<string>();
  const text = content.replace(PLACEHOLDER, (whole, name: string) => {
    const value = Object.prototype.hasOwnProperty.call(variables, name) ? variables[name] : undefined;
    if (value === undefined || value === null) {
      missing.add(name);
      return whole;
    }
    return String(value);
  });
  return missing.size > 0 ? { ok: false, missing: [...missing] } : { ok: true, text };
}

const ANY_PLACEHOLDER = new RegExp(PLACEHOLDER.source);

export function hasPlaceholders(content: string): boolean {
  // Most texts have no braces at all: skip the regular expression for them.
  return content.includes('{{') && ANY_PLACEHOLDER.test(content);
}

/** Declared variables against the placeholders the content really has. */
export function variableMismatch(content: string, declared: string[]): { undeclared: string[]; unused: string[] } {
  const used = placeholdersOf(content);
  return {
    undeclared: used.filter((v) => !declared.includes(v)),
    unused: declared.filter((v) => !used.includes(v)),
  };
}
