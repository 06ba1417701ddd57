import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { composeMessage } from '../src/modules/notifications/channels.js';

// Emails are composed by our own small writer (composeMessage), not by nodemailer's composer,
// which cost 15× the CPU per message on the reminder path (docs/BENCHMARKS.md, "Reminder
// engine"). Hand-written MIME must still be read back exactly by a real, independent parser
// (mailparser): whatever the subject, names and bodies, in any script.

/** Header text as our templates and users make it: any characters but line breaks. */
const headerText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }).map((s) => s.replace(/[\r\n]/g, ' ').trim()).filter((s) => s.length > 0);
const displayName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map((s) => s.replace(/[\r\n<>"\\]/g, 'x').trim()).filter((s) => s.length > 0);
/** Bodies: any text; line ends are normalised to LF by the reader. */
const body = fc.string({ unit: 'grapheme', maxLength: 2_000 }).map((s) => s.replace(/\r\n?/g, '\n'));

describe('composeMessage, read back by mailparser', () => {
  it('subject, sender and recipient names, text and HTML come back exactly', async () => {
    await fc.assert(
      fc.asyncProperty(headerText, displayName, displayName, body, fc.option(body, { nil: null }), async (subject, fromName, toName, text, html) => {
        const m = composeMessage({ from: `${fromName} <no-reply@upkeep.local>`, to: `${toName} <owner@example.cn>`, subject, text, html, messageId: '<id-1@upkeep.local>' });
        expect(m.envelope).toEqual({ from: 'no-reply@upkeep.local', to: ['owner@example.cn'] });
        const parsed = await simpleParser(m.raw);
        expect(parsed.subject).toBe(subject);
        expect(parsed.messageId).toBe('<id-1@upkeep.local>');
        expect(parsed.from?.value).toEqual([{ address: 'no-reply@upkeep.local', name: fromName }]);
        const to = Array.isArray(parsed.to) ? parsed.to : [parsed.to];
        expect(to.flatMap((a) => a?.value ?? [])).toEqual([{ address: 'owner@example.cn', name: toName }]);
        expect((parsed.text ?? '').replace(/\n$/, '')).toBe(text.replace(/\n$/, ''));
        if (html === null) expect(parsed.html).toBe(false);
        // An empty HTML part reads back as no HTML (mailparser's `false`).
        else expect(parsed.html || '').toBe(html);
        // RFC 5322: no header line longer than 998 characters; ours fold non-ASCII at 78.
        const head = m.raw.toString().split('\r\n\r\n')[0] ?? '';
        for (const line of head.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
      }),
      // U+2028/U+2029 are line terminators to a JS regex (found by CI, seed -1475825454).
      { numRuns: 300, examples: [['!', 'ᚁ', '!\u2028!', '', null], ['!', 'a\u2029b', 'c', 'x', 'y']] },
    );
  });

  it('a line break in a header value cannot add a header', async () => {
    const m = composeMessage({ from: 'Upkeep <no-reply@upkeep.local>', to: 'owner@example.cn', subject: '提醒\r\nBcc: evil@example.com', text: 'x', html: null, messageId: '<id-2@upkeep.local>' });
    const parsed = await simpleParser(m.raw);
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(parsed.subject).toBe('提醒 Bcc: evil@example.com');
  });
});
