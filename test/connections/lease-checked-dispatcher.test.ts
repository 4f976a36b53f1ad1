import type { IncomingMessage, ServerResponse } from "node:http";
import { Pool, request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LeaseCheckedDispatcher } from "../../src/connections/http/lease-checked-dispatcher.ts";
import { LeaseFence, LeaseLostError } from "../../src/runtime/lease-fence.ts";
import { LoopbackServer } from "../support/loopback-server.ts";
import { waitFor } from "../support/wait.ts";

/** Counts what reaches it; the first request is answered only when the test says so. */
class HoldingServer extends LoopbackServer {
  readonly received: string[] = [];
  release: () => void = () => {};
  readonly #held = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.received.push(String(request.url));
    if (request.url === "/slow") await this.#held;
    response.writeHead(200, { "content-type": "text/plain" }).end("ok");
  }
}

describe("a request that waits for a connection is sent only if its lease still holds when it is written", () => {
  let server: HoldingServer;
  let pool: Pool;
  const clock = {
    at: 1_000_000,
    now() {
      return this.at;
    },
  };

  beforeEach(async () => {
    server = new HoldingServer();
    await server.start();
    // One connection: the second request waits for the first to finish, as a request waits for a socket.
    pool = new Pool(server.origin, { connections: 1 });
  });
  afterEach(async () => {
    server.release();
    await pool.close();
    await server.close();
  });

  /** Sends /slow (held by the server), then /queued under a fence; lets the fence lapse or not before /slow ends. */
  async function queueBehindSlowRequest(lapse: boolean) {
    const slow = request(`${server.origin}/slow`, { dispatcher: pool });
    await waitFor("the slow request to reach the server", () => server.received.includes("/slow"));
    // The fence's own timer is a minute away in real time: only the check at the write can stop the request.
    const fence = new LeaseFence(clock, clock.now() + 60_000);
    expect(fence.held).toBe(true);
    const queued = request(`${server.origin}/queued`, {
      dispatcher: new LeaseCheckedDispatcher(pool, [fence], () => "POST /queued"),
      method: "POST",
      body: "{}",
    });
    if (lapse) clock.at += 61_000;
    server.release();
    await (await slow).body.text();
    return queued;
  }

  it("the lease lapsed while it waited: it is aborted unsent, with the reason", async () => {
    const outcome = await queueBehindSlowRequest(true).then(
      () => "sent",
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect(String((outcome as Error).message)).toContain("the worker fenced itself before POST /queued left");
    // Another request on the pool still works, and the aborted one never reached the server.
    await (await request(`${server.origin}/after`, { dispatcher: pool })).body.text();
    expect(server.received).toEqual(["/slow", "/after"]);
  });

  it("the lease still holds: it is sent and answered as usual", async () => {
    const answer = await queueBehindSlowRequest(false);
    expect(answer.statusCode).toBe(200);
    expect(await answer.body.text()).toBe("ok");
    expect(server.received).toEqual(["/slow", "/queued"]);
  });
});
