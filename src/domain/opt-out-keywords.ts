/** What an inbound text asks for when it is one of the contract's keywords. */
export type KeywordAction = 'opt_out' | 'opt_in';

export const OPT_OUT_KEYWORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE'] as const;
export const OPT_IN_KEYWORDS = ['START', 'YES', 'UNSTOP'] as const;

const ACTIONS = new Map<string, KeywordAction>([
  ...OPT_OUT_KEYWORDS.map((k) => [k, 'opt_out'] as const),
  ...OPT_IN_KEYWORDS.map((k) => [k, 'opt_in'] as const),
]);

/**
 * The whole text must be the keyword (surrounding whitespace aside): "stop by tomorrow" is a
 * conversation, not an opt-out. Case is ignored for ASCII letters only, because toUpperCase
 * folds some other letters into ASCII ("ſtop" would become "STOP").
 */
export function keywordAction(text: string): KeywordAction | undefined {
  const word = text.trim();
  if (!/^[A-Za-z]{1,16}$/.test(word)) return undefined;
  return ACTIONS.get(word.toUpperCase());
}

/** The keyword as the sender meant it, upper case, for the opt-out's reason. */
export function normalisedKeyword(text: string): string {
  return text.trim().toUpperCase();
}
