import net from 'node:net';

/**
 * A loopback TCP proxy in front of a real service (here: the test Redis) that can freeze: while
 * frozen, bytes are held in both directions, so the service looks hung (connections stay open,
 * commands get no reply), as when Redis stalls or the network drops packets. thaw() delivers
 * what was held. Only connections through this proxy are affected; the shared Redis is not.
 */
export class FreezableProxy {
  private server: net.Server | undefined;
  private frozen = false;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket; held: Array<() => void> }>();
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(targetUrl: string): Promise<FreezableProxy> {
    const u = new URL(targetUrl);
    const proxy = new FreezableProxy(u.hostname, Number(u.port || 6379));
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

  async close(): Promise<void> {
    this.thaw();
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private async listen(): Promise<void> {
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
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }
}
