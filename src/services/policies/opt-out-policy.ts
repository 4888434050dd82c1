import type { Kysely } from 'kysely';
import type { SmsType } from '../../domain/message-status.js';
import type { Database } from '../../store/schema.js';
import { inList } from '../../store/statement-shapes.js';
import type { RecipientCheck, RecipientPolicy, RecipientRejection } from '../recipient-policy.js';

/** What an opt-out stops; transactional, otp and alert traffic is what the recipient still needs. */
const GUARDED: ReadonlySet<SmsType> = new Set<SmsType>(['promotional', 'marketing']);

/** Well under SQLite's and PostgreSQL's bound-parameter limits, and a plan that stays an index lookup. */
const CHUNK = 500;

/** Refuses promotional and marketing messages to numbers in `opt_outs` (reason `opted_out`). */
export class OptOutPolicy implements RecipientPolicy {
  constructor(private readonly db: Kysely<Database>) {}

  async check(recipients: readonly RecipientCheck[], _now: number): Promise<Map<string, RecipientRejection>> {
    const rejected = new Map<string, RecipientRejection>();
    const numbers = [...new Set(recipients.filter((r) => GUARDED.has(r.smsType)).map((r) => r.e164))];
    for (let i = 0; i < numbers.length; i += CHUNK) {
      const rows = await this.db.selectFrom('opt_outs').select('number').where('number', 'in', inList(numbers.slice(i, i + CHUNK))).execute();
      for (const { number } of rows) {
        rejected.set(number, {
          reason: 'opted_out',
          message: 'has opted out of promotional and marketing messages (only transactional, otp and alert messages reach it)',
        });
      }
    }
    return rejected;
  }
}
