/** `{{name}}` placeholders: letters, digits, `_`, `-` and `.`, spaces inside the braces allowed. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

export function placeholdersOf(content: string): string[] {
  const names = new Set<string>();
  for (const m of content.matchAll(PLACEHOLDER)) names.add(m[1]);
  return [...names];
}

export type RenderResult = { ok: true; text: string } | { ok: false; missing: string[]; tooLong: boolean };

/**
 * Substitutes in one pass over the template, so a value that itself contains `{{x}}`
 * is sent as written and never expanded (no injection of further placeholders).
 * With `maxCharacters`, it stops growing the text once it is surely longer than that
 * (more UTF-16 units than twice the limit), so large values cannot make rendering expensive;
 * the caller still checks the exact length of a text that finished.
 */
export function renderTemplate(content: string, variables: Record<string, unknown>, maxCharacters = Infinity): RenderResult {
  const missing = new Set<string>();
  const budget = maxCharacters * 2;
  let length = content.length;
  let tooLong = false;
  const text = content.replace(PLACEHOLDER, (whole, name: string) => {
    const value = Object.prototype.hasOwnProperty.call(variables, name) ? variables[name] : undefined;
    if (value === undefined || value === null) {
      missing.add(name);
      return whole;
    }
    if (tooLong) return '';
    const filled = String(value);
    length += filled.length - whole.length;
    if (length > budget) tooLong = true;
    return tooLong ? '' : filled;
  });
  return missing.size > 0 || tooLong ? { ok: false, missing: [...missing], tooLong } : { ok: true, text };
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
