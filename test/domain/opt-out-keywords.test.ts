import { describe, expect, it } from 'vitest';
import { keywordAction, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS } from '../../src/domain/opt-out-keywords.js';

describe('keywordAction', () => {
  it('knows every keyword of the contract, in any case, with surrounding spaces', () => {
    for (const k of OPT_OUT_KEYWORDS) {
      expect(keywordAction(k)).toBe('opt_out');
      expect(keywordAction(`  ${k.toLowerCase()}\n`)).toBe('opt_out');
    }
    for (const k of OPT_IN_KEYWORDS) {
      expect(keywordAction(k)).toBe('opt_in');
      expect(keywordAction(`\t${k[0]}${k.slice(1).toLowerCase()} `)).toBe('opt_in');
    }
    expect([...OPT_OUT_KEYWORDS].sort()).toEqual(['CANCEL', 'END', 'OPTOUT', 'QUIT', 'REVOKE', 'STOP', 'STOPALL', 'UNSUBSCRIBE']);
    expect([...OPT_IN_KEYWORDS].sort()).toEqual(['START', 'UNSTOP', 'YES']);
  });

  it('a text that merely contains a keyword is a conversation', () => {
    for (const text of ['stop it', 'STOP.', 'please stop', 'yes please', 'STOPP', 'S T O P', '', '   ', 'ending']) {
      expect(keywordAction(text)).toBeUndefined();
    }
  });

  it('only ASCII letters fold: a look-alike is not a keyword', () => {
    // U+017F LATIN SMALL LETTER LONG S upper-cases to "S".
    expect('\u017Ftop'.toUpperCase()).toBe('STOP');
    expect(keywordAction('\u017Ftop')).toBeUndefined();
    expect(keywordAction('ＳＴＯＰ')).toBeUndefined();
  });
});
