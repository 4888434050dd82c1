const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (n: number) => String(n).padStart(2, '0');

/** The 2010-04-01 API's dates, as Twilio writes them: `Thu, 30 Jul 2015 20:12:31 +0000`. */
export function rfc2822(ms: number): string;
export function rfc2822(ms: number | null): string | null;
export function rfc2822(ms: number | null): string | null {
  if (ms === null) return null;
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} `
    + `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** Verify's (v2) dates: ISO 8601 to the second, as Twilio writes them. */
export function iso8601(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/**
 * A `DateSent` filter value: `YYYY-MM-DD` (a GMT day, as Twilio documents it) or a full
 * ISO 8601 date-time (what twilio-node sends for a Date). Returns the instant and whether only
 * a day was given, or undefined when the value is neither.
 */
export function parseDateSent(value: string): { at: number; dayOnly: boolean } | undefined {
  const dayOnly = DATE_ONLY.test(value);
  const at = Date.parse(dayOnly ? `${value}T00:00:00Z` : value);
  return Number.isNaN(at) ? undefined : { at, dayOnly };
}

/**
 * The sent-time range the three filters select, both ends inclusive. `DateSent=` is the GMT day of
 * the value; `DateSent<` is "on or before" (a day: up to its last millisecond), `DateSent>` is
 * "on or after", as Twilio's `DateSent<=` / `DateSent>=` read.
 */
export function sentRange(filters: { on?: string; before?: string; after?: string }): { from?: number; to?: number } | { invalid: string } {
  const range: { from?: number; to?: number } = {};
  const narrow = (from: number | undefined, to: number | undefined) => {
    if (from !== undefined) range.from = Math.max(range.from ?? -Infinity, from);
    if (to !== undefined) range.to = Math.min(range.to ?? Infinity, to);
  };
  for (const [name, value] of [['DateSent', filters.on], ['DateSent<', filters.before], ['DateSent>', filters.after]] as const) {
    if (value === undefined) continue;
    const parsed = parseDateSent(value);
    if (!parsed) return { invalid: name };
    if (name === 'DateSent') {
      const day = Math.floor(parsed.at / DAY_MS) * DAY_MS;
      narrow(day, day + DAY_MS - 1);
    } else if (name === 'DateSent<') {
      narrow(undefined, parsed.dayOnly ? parsed.at + DAY_MS - 1 : parsed.at);
    } else {
      narrow(parsed.at, undefined);
    }
  }
  return range;
}
