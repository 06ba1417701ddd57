import { SMTPServer, type SMTPServerDataStream, type SMTPServerError, type SMTPServerSession } from 'smtp-server';

/**
 * A real SMTP server (the `smtp-server` package) on a random loopback port, for tests: no TLS,
 * no authentication required. It records every message it accepted (a 250 reply to DATA on a
 * connection that was still open) and can be told to misbehave:
 * - failNext(n, code): answer the next n DATA commands with an error (451 temporary, 550 permanent…);
 * - hangData(): hold every DATA reply until release(); a client that goes away meanwhile never
 *   gets its 250, so its message does not count as delivered;
 * - stop() / start(): go away and come back on the same port.
 */

export interface ReceivedMessage {
  /** Envelope recipients (RCPT TO). */
  rcptTo: string[];
  mailFrom: string | null;
  /** Header values, decoded (RFC 2047 encoded words) and unfolded; names in lower case. */
  headers: Map<string, string>;
  to: string;
  subject: string;
  messageId: string;
  raw: string;
  receivedAt: Date;
}

interface HeldReply {
  sessionId: string;
  reply: () => void;
}

export class TestSmtpServer {
  /** Messages accepted, in order. */
  readonly messages: ReceivedMessage[] = [];
  /** DATA commands completed by a client (whatever we answered): one per delivery attempt. */
  dataCommands = 0;
  private server: SMTPServer | undefined;
  private failRemaining = 0;
  private failure = { code: 451, message: '' };
  private hanging = false;
  private held: HeldReply[] = [];
  private readonly closedSessions = new Set<string>();
  private waiters: Array<() => void> = [];

  private constructor(public port: number) {}

  /** Starts a server on a free loopback port. */
  static async start(): Promise<TestSmtpServer> {
    const s = new TestSmtpServer(0);
    await s.start();
    return s;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Answers the next `n` DATA commands with `code` (e.g. 451 or 550); `n` may be Infinity. */
  failNext(n: number, code = 451, message = code >= 500 ? 'Requested action not taken: mailbox unavailable' : 'Requested action aborted: try again later'): void {
    this.failRemaining = n;
    this.failure = { code, message };
  }

  /** Stops failing: the next DATA commands succeed. */
  recover(): void {
    this.failRemaining = 0;
  }

  /** From now on, DATA is received in full but not answered until release(). */
  hangData(): void {
    this.hanging = true;
  }

  /** How many DATA replies are being held back. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Answers the held DATA commands (250 to those whose client is still connected) and stops hanging. */
  release(): void {
    this.hanging = false;
    const held = this.held;
    this.held = [];
    for (const h of held) h.reply();
  }

  /** Goes away: no new connections, open ones are closed. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // Held replies of a server that goes away are never given.
    this.held = [];
    this.hanging = false;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again (on the same port after stop()). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      secure: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      // stop() should not wait 30 s for clients to leave.
      closeTimeout: 100,
      onData: (stream, session, callback) => this.onData(stream, session, callback),
      onClose: (session) => {
        this.closedSessions.add(session.id);
        this.wake();
      },
    });
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    const address = server.server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Waits until at least `n` messages were accepted; fails after `timeoutMs`. */
  async waitForMessages(n: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
    await this.waitUntil(() => this.messages.length >= n, timeoutMs, () => `${n} message(s), got ${this.messages.length}`);
    return this.messages.slice(0, n);
  }

  /** Waits until `n` DATA replies are held back (see hangData). */
  async waitForHeld(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waitUntil(() => this.held.length >= n, timeoutMs, () => `${n} held DATA command(s), got ${this.held.length}`);
  }

  /** Waits until every client whose DATA reply is held has disconnected. */
  async waitForHeldClientsGone(timeoutMs = 10_000): Promise<void> {
    await this.waitUntil(
      () => this.held.every((h) => this.closedSessions.has(h.sessionId)),
      timeoutMs,
      () => `held clients to disconnect (${this.held.filter((h) => !this.closedSessions.has(h.sessionId)).length} still connected)`,
    );
  }

  /** Waits until at least `n` DATA commands were received (answered or not). */
  async waitForDataCommands(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waitUntil(() => this.dataCommands >= n, timeoutMs, () => `${n} DATA command(s), got ${this.dataCommands}`);
  }

  messagesTo(address: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.rcptTo.includes(address.toLowerCase()));
  }

  private async waitUntil(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`SMTP test server: timed out after ${timeoutMs} ms waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      this.dataCommands += 1;
      const raw = Buffer.concat(chunks).toString('utf8');
      const answer = () => {
        if (this.failRemaining > 0) {
          this.failRemaining -= 1;
          const err: SMTPServerError = new Error(this.failure.message);
          err.responseCode = this.failure.code;
          callback(err);
          this.wake();
          return;
        }
        // A client that went away before our 250 does not know its message arrived: for it
        // (and for us) it was not delivered.
        if (!this.closedSessions.has(session.id)) {
          this.messages.push(parseMessage(raw, session));
        }
        callback(null);
        this.wake();
      };
      if (this.hanging) {
        this.held.push({ sessionId: session.id, reply: answer });
        this.wake();
      } else {
        answer();
      }
    });
  }
}

function parseMessage(raw: string, session: SMTPServerSession): ReceivedMessage {
  const headers = parseHeaders(raw);
  return {
    rcptTo: session.envelope.rcptTo.map((a) => a.address.toLowerCase()),
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
    headers,
    to: headers.get('to') ?? '',
    subject: headers.get('subject') ?? '',
    messageId: headers.get('message-id') ?? '',
    raw,
    receivedAt: new Date(),
  };
}

/** The header block: unfolded, encoded words decoded; the first occurrence of a name wins. */
export function parseHeaders(raw: string): Map<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const block = end === -1 ? raw : raw.slice(0, end);
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, decodeWords(line.slice(colon + 1).trim()));
  }
  return headers;
}

/** RFC 2047 encoded words (=?UTF-8?B?…?= and =?UTF-8?Q?…?=); whitespace between two of them is dropped. */
export function decodeWords(value: string): string {
  const word = /=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g;
  const joined = value.replace(/(=\?[^?]+\?[bBqQ]\?[^?]*\?=)\s+(?==\?[^?]+\?[bBqQ]\?[^?]*\?=)/g, '$1');
  // Adjacent words may split one multi-byte character: decode bytes first, then the text.
  const parts: Array<string | Buffer> = [];
  let last = 0;
  for (const m of joined.matchAll(word)) {
    if (m.index > last) parts.push(joined.slice(last, m.index));
    const [, , encoding, text = ''] = m;
    parts.push(
      encoding?.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_s, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1'),
    );
    last = m.index + m[0].length;
  }
  if (last < joined.length) parts.push(joined.slice(last));
  let out = '';
  let bytes: Buffer[] = [];
  const flush = () => {
    if (bytes.length) out += Buffer.concat(bytes).toString('utf8');
    bytes = [];
  };
  for (const p of parts) {
    if (typeof p === 'string') {
      flush();
      out += p;
    } else bytes.push(p);
  }
  flush();
  return out;
}
