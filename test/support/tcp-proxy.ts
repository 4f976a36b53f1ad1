import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Every connection dropped, new ones refused. */
  cut(): Promise<void>;
  /** Every connection dropped; new ones are accepted and then never answered (a host that went silent). */
  silence(): void;
  /** Forwards again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP forwarder to a local port (PostgreSQL) that a test can cut, silence and restore. */
export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let silent = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  };
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  const listen = () =>
    new Promise<void>((resolve) => {
      const listening = createServer((client) => {
        track(client);
        if (silent) return;
        const upstream = connect(targetPort, "127.0.0.1");
        track(upstream);
        for (const socket of [client, upstream]) {
          socket.on("close", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server = listening;
      listening.listen(port, "127.0.0.1", () => {
        port = (listening.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = async () => {
    dropAll();
    const closing = server;
    server = undefined;
    if (closing) await new Promise((resolve) => closing.close(resolve));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    cut,
    silence() {
      silent = true;
      dropAll();
    },
    async restore() {
      silent = false;
      if (!server) await listen();
    },
    close: cut,
  };
}
