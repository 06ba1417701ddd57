import { createHash, randomBytes } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

/**
 * Where an email goes out. One small interface so SMS or messaging-app channels can be added
 * beside it later.
 */
export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html: string | null;
  /** Stable per notification: a resend after an interrupted attempt carries the same Message-ID. */
  dedupeKey: string;
}

export interface EmailChannel {
  readonly name: string;
  send(email: OutgoingEmail): Promise<{ deliveredVia: string; messageId?: string }>;
  close(): void;
}

export function messageIdFor(dedupeKey: string): string {
  return `<${createHash('sha256').update(dedupeKey).digest('hex').slice(0, 32)}@upkeep.local>`;
}

export interface SmtpChannelOptions {
  /**
   * Connections kept open to the SMTP server and used in turn (nodemailer's pool): sending no
   * longer pays a TCP connect, greeting and EHLO per message. Match it to the email worker's
   * concurrency; each connection carries one message at a time.
   */
  maxConnections?: number;
}

export class SmtpChannel implements EmailChannel {
  readonly name = 'smtp';
  private readonly transport: Transporter;
  constructor(
    smtpUrl: string,
    private readonly from: string,
    options: SmtpChannelOptions = {},
  ) {
    // Transport options go in the first argument (with the URL): nodemailer's second argument
    // is only the messages' default fields.
    this.transport = nodemailer.createTransport({
      url: smtpUrl,
      pool: true,
      maxConnections: Math.max(1, options.maxConnections ?? 5),
      // A connection is replaced after this many messages (servers often cap it).
      maxMessages: 100,
      // Bounded: a hung SMTP server must not hold a send (and its lease) for long.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  }
  async send(email: OutgoingEmail) {
    // Composed here and handed over whole (nodemailer's `raw`): nodemailer's own composer built
    // each message through a tree of streams and wrote it in dozens of small socket writes,
    // most of the worker's CPU per email. The message is simple: see composeMessage.
    const message = composeMessage({ from: this.from, ...email, messageId: messageIdFor(email.dedupeKey) });
    await this.transport.sendMail({ envelope: message.envelope, raw: message.raw });
    return { deliveredVia: 'smtp', messageId: messageIdFor(email.dedupeKey) };
  }
  close() {
    this.transport.close();
  }
}

/** Line breaks in a header value would start new headers: never from data. */
const oneLine = (v: string) => v.replace(/[\r\n]+/g, ' ');

/** A header value as RFC 2047 encoded words (UTF-8, base64) when not plain ASCII, folded. */
function encodeWords(value: string): string {
  const v = oneLine(value);
  if (/^[\x20-\x7e]*$/.test(v)) return v;
  // Whole characters per word, at most 45 bytes each: a word stays within 75 characters.
  const words: string[] = [];
  let chunk = '';
  for (const ch of v) {
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** "Name <address>" or "address": the address for the envelope, the header as it should be written. */
function mailbox(value: string): { address: string; header: string } {
  // `s`: a display name may hold U+2028/U+2029, which `.` would not match.
  const m = /^\s*(.*?)\s*<([^<>\s]+)>\s*$/s.exec(oneLine(value));
  if (!m) return { address: oneLine(value).trim(), header: oneLine(value).trim() };
  const [, name = '', address = ''] = m;
  const display = name.replace(/^"(.*)"$/s, '$1');
  if (!display) return { address, header: address };
  const plain = /^[\x20-\x7e]*$/.test(display);
  const header = !plain ? encodeWords(display) : /^[\w !#$%&'*+\-/=?^`{|}~]*$/.test(display) ? display : `"${display.replace(/(["\\])/g, '\\$1')}"`;
  return { address, header: `${header} <${address}>` };
}

const base64Lines = (text: string) => (Buffer.from(text).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

/**
 * The whole message (RFC 5322 + MIME): plain text, or multipart/alternative with the HTML;
 * UTF-8 bodies in base64, non-ASCII headers as encoded words.
 */
export function composeMessage(m: { from: string; to: string; subject: string; text: string; html: string | null; messageId: string }): {
  envelope: { from: string; to: string[] };
  raw: Buffer;
} {
  const from = mailbox(m.from);
  const to = mailbox(m.to);
  const head = [
    `From: ${from.header}`,
    `To: ${to.header}`,
    `Subject: ${encodeWords(m.subject)}`,
    `Message-ID: ${oneLine(m.messageId)}`,
    `Date: ${new Date().toUTCString().replace(/GMT$/, '+0000')}`,
    'MIME-Version: 1.0',
  ];
  const part = (type: string, body: string) => [`Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: base64', '', base64Lines(body)];
  let lines: string[];
  if (m.html === null) lines = [...head, ...part('text/plain', m.text)];
  else {
    const boundary = `--_upkeep_${randomBytes(12).toString('hex')}`;
    lines = [
      ...head,
      `Content-Type: multipart/alternative; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      ...part('text/plain', m.text),
      `--${boundary}`,
      ...part('text/html', m.html),
      `--${boundary}--`,
    ];
  }
  return { envelope: { from: from.address, to: [to.address] }, raw: Buffer.from(`${lines.join('\r\n')}\r\n`) };
}

/** The zero-config default: no SMTP_URL, so emails are kept in-app and written to the log. */
export class LogChannel implements EmailChannel {
  readonly name = 'log';
  constructor(private readonly logger: Logger) {}
  async send(email: OutgoingEmail) {
    this.logger.info({ to: email.to, subject: email.subject, text: email.text }, 'email (no SMTP_URL: logged, not sent)');
    return { deliveredVia: 'log' };
  }
  close() {}
}

export function createEmailChannel(opts: { smtpUrl: string | undefined; from: string; logger: Logger; maxConnections?: number }): EmailChannel {
  return opts.smtpUrl ? new SmtpChannel(opts.smtpUrl, opts.from, { maxConnections: opts.maxConnections }) : new LogChannel(opts.logger);
}
