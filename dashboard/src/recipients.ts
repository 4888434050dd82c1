/** One recipient of a batch as pasted or uploaded: a number, maybe a name, maybe variables. */
export interface Recipient {
  number: string;
  name?: string;
  variables?: Record<string, string>;
}

/** Splits one CSV line: commas, with "quoted, fields" and "" for a quote inside them. */
export function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',' || c === ';' || c === '\t') {
      fields.push(field.trim());
      field = '';
    } else field += c;
  }
  fields.push(field.trim());
  return fields;
}

/**
 * Recipients from text: CSV with a header row (`number,name,code,...`: every column after the
 * number and name is a template variable), or without one, a number per line (`number,name`).
 */
export function parseRecipients(text: string): Recipient[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return [];
  const first = csvFields(lines[0]).map((h) => h.toLowerCase());
  const hasHeader = /^(number|phone|phone_number|to|msisdn)$/.test(first[0] ?? '');
  if (!hasHeader) {
    return lines.map((line) => {
      const [number, name] = csvFields(line);
      return name ? { number, name } : { number };
    });
  }
  const header = csvFields(lines[0]);
  return lines.slice(1).map((line) => {
    const values = csvFields(line);
    const recipient: Recipient = { number: values[0] ?? '' };
    const variables: Record<string, string> = {};
    header.forEach((column, i) => {
      if (i === 0 || values[i] === undefined || values[i] === '') return;
      if (column.toLowerCase() === 'name') recipient.name = values[i];
      else variables[column] = values[i];
    });
    if (Object.keys(variables).length > 0) recipient.variables = variables;
    return recipient;
  });
}
