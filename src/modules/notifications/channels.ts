import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
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
    // Composed in memory, then handed over whole: streamed from the composer, a message went to
    // the socket in dozens of small writes (header lines, parts), the main CPU cost of sending.
    const message = new MailComposer({
      from: this.from,
      to: email.to,
      subject: email.subject,
      text: email.text,
      ...(email.html ? { html: email.html } : {}),
      messageId: messageIdFor(email.dedupeKey),
    }).compile();
    const envelope = message.getEnvelope();
    const raw = await message.build();
    await this.transport.sendMail({ envelope: { from: envelope.from || undefined, to: envelope.to }, raw });
    return { deliveredVia: 'smtp', messageId: message.messageId() };
  }
  close() {
    this.transport.close();
  }
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
