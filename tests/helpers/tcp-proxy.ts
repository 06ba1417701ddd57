import net from 'node:net';

/**
 * A loopback TCP proxy in front of a real service (the test Redis or PostgreSQL) that can freeze: while
 * frozen, bytes are held in both directions, so the service looks hung (connections stay open,
 * commands get no reply), as when Redis stalls or the network drops packets. thaw() delivers
 * what was held. Only connections through this proxy are affected; the shared Redis is not.
 *
 * It can also simulate the service going away and coming back (a crash or restart):
 * - dropConnections(): every open connection is cut (clients see the connection close);
 * - outage(): cuts every connection and stops listening, so new ones are refused
 *   (ECONNREFUSED), as while the service is down;
 * - restore(): listens again on the same port, as when the service is back.
 * The shared service itself is never stopped, flushed or reconfigured.
 */
export class FreezableProxy {
  private server: net.Server | undefined;
  private frozen = false;
  private down = false;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket; held: Array<() => void> }>();
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(targetUrl: string): Promise<FreezableProxy> {
    const u = new URL(targetUrl);
    const defaultPort = u.protocol.startsWith('postgres') ? 5432 : 6379;
    const proxy = new FreezableProxy(u.hostname, Number(u.port || defaultPort));
    await proxy.listen();
    return proxy;
  }

  /** The target URL rewritten to go through the proxy. */
  url(targetUrl: string): string {
    const u = new URL(targetUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const pair of this.pairs) {
      const held = pair.held.splice(0);
      for (const deliver of held) deliver();
    }
  }

  /** Cuts every open connection (both sides); new connections are still accepted. */
  dropConnections(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** The service goes away: open connections are cut and new ones refused until restore(). */
  async outage(): Promise<void> {
    if (this.down) return;
    this.down = true;
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    this.dropConnections();
    await closed;
  }

  /** The service is back: listens again on the same port. */
  async restore(): Promise<void> {
    if (!this.down) return;
    await this.listen(this.port);
    this.down = false;
  }

  get isDown(): boolean {
    return this.down;
  }

  async close(): Promise<void> {
    this.thaw();
    this.dropConnections();
    this.down = false;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private async listen(port = 0): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      const pair = { client, upstream, held: [] as Array<() => void> };
      this.pairs.add(pair);
      const forward = (to: net.Socket) => (chunk: Buffer) => {
        const deliver = () => {
          if (!to.destroyed) to.write(chunk);
        };
        if (this.frozen) pair.held.push(deliver);
        else deliver();
      };
      client.on('data', forward(upstream));
      upstream.on('data', forward(client));
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }
}
