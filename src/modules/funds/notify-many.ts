import type { DbOrTrx } from '../../db/index.js';
import { notify, type NotifyInput } from '../notifications/notifications.service.js';
import { uniqueRecipients } from '../notifications/recipients.js';
import type { TemplateName } from '../notifications/templates.js';

/**
 * Recipients per notify() call. notify() writes up to two rows per recipient (in-app and email)
 * in one INSERT of ~14 parameters a row, and PostgreSQL takes at most 65,535 parameters per
 * statement: a vote of a 20,000-unit community (20,000 owners) would not fit in one. 1,000
 * recipients is at most 2,000 rows (~28,000 parameters).
 */
export const RECIPIENTS_PER_INSERT = 1_000;

/**
 * notify() for any number of recipients, in the caller's transaction: the same rows as one call
 * (recipients made unique over the whole list first, then written in slices).
 */
export async function notifyMany<K extends TemplateName>(trx: DbOrTrx, input: NotifyInput<K>): Promise<void> {
  const all = uniqueRecipients(input.recipients);
  if (all.length === 0) return;
  for (let i = 0; i < all.length; i += RECIPIENTS_PER_INSERT) {
    await notify(trx, { ...input, recipients: all.slice(i, i + RECIPIENTS_PER_INSERT) });
  }
}
