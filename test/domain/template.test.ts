import { describe, expect, it } from 'vitest';
import { placeholdersOf, renderTemplate, variableMismatch } from '../../src/domain/template.js';

describe('renderTemplate', () => {
  it('substitutes {{name}}, with spaces allowed inside the braces', () => {
    expect(renderTemplate('Hi {{name}}, {{ n }} left', { name: 'Ann', n: 3 })).toEqual({ ok: true, text: 'Hi Ann, 3 left' });
  });
  it('names every missing variable instead of leaving a gap', () => {
    expect(renderTemplate('{{a}} {{b}} {{a}}', {})).toEqual({ ok: false, missing: ['a', 'b'], tooLong: false });
  });
  it('does not expand placeholders inside values', () => {
    expect(renderTemplate('{{a}}-{{b}}', { a: '{{b}}', b: 'x' })).toEqual({ ok: true, text: '{{b}}-x' });
  });
  it('stops growing the text once it is surely over the length limit', () => {
    const huge = 'x'.repeat(5_000);
    const result = renderTemplate('{{v}}{{v}}{{v}}{{v}}', { v: huge }, 1600);
    expect(result).toEqual({ ok: false, missing: [], tooLong: true });
    // Within the limit (in characters, not UTF-16 units: an emoji is two units) it renders.
    expect(renderTemplate('{{v}}', { v: '😀'.repeat(1000) }, 1000)).toEqual({ ok: true, text: '😀'.repeat(1000) });
  });
  it('ignores inherited properties', () => {
    expect(renderTemplate('{{constructor}}', {}).ok).toBe(false);
  });
  it('lists placeholders and compares them to declared variables', () => {
    expect(placeholdersOf('{{a}} {{b}} {{a}}')).toEqual(['a', 'b']);
    expect(variableMismatch('{{a}} {{b}}', ['a', 'c'])).toEqual({ undeclared: ['b'], unused: ['c'] });
  });
});
